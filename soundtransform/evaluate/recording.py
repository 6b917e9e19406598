"""Recording-like conditions for clean rendered notes: a small room, a noise floor, EQ, level, a microphone.

Rendered notes are dry and silent between notes; a note played in a room
and picked up by a microphone is not.  These functions add what a recording
adds, so that a judge can be trained to hear through it (`augment`) and a
model's figures can be measured on inputs that carry it (`degrade`).  All
work on float waveforms at `audio.SAMPLE_RATE`, keep their length, and draw
every random choice from the ``rng`` (``np.random.Generator``) they are given.

Room
    Schroeder's model of late reverberation: an impulse response of Gaussian
    noise under an exponential decay that falls 60 dB in RT60 seconds
    (Schroeder 1962; Lehmann & Johansson 2008 for its use in simulation),
    after a 1-5 ms pre-delay; the wet signal is mixed in at 10-40 % of the
    dry one's level.
Noise floor
    White or pink (1/f power) noise whose RMS lies 30-40 dB below the clip's
    peak sample.
EQ
    A spectral tilt of up to ±6 dB across 50 Hz-8 kHz and one peaking band
    (log-uniform centre 150 Hz-5 kHz, gain ±6 dB, an octave wide), applied as
    a zero-phase gain on the rFFT.
Microphone
    A gentle 2nd-order Butterworth high-pass (40-150 Hz) and low-pass
    (4-7.5 kHz).
"""

import numpy as np

from soundtransform import audio
from soundtransform.errors import ParameterError

RT60_SECONDS = (0.2, 0.6)
WET = (0.1, 0.4)  # wet level re the dry signal
NOISE_DB_BELOW_PEAK = (30.0, 40.0)
EQ_DB = 6.0
LEVEL_DB = (-20.0, 6.0)
HIGHPASS_HZ = (40.0, 150.0)
LOWPASS_HZ = (4000.0, 7500.0)
CONDITIONS = ("clean", "room-noise")  # what `condition` applies: nothing, or `degrade`


def room_impulse_response(rt60, rng, sample_rate=audio.SAMPLE_RATE):
    """A synthetic small-room impulse response: decaying noise, unit energy.

    Parameters
    ----------
    rt60 : float, s
        Time for the decay to fall 60 dB.

    Returns
    -------
    np.ndarray [shape=(samples,)], float32, ``rt60`` s long after its pre-delay
    """
    if not rt60 > 0:
        raise ParameterError(f"rt60 must be a positive number of seconds, got {rt60}")
    delay = int(rng.uniform(0.001, 0.005) * sample_rate)
    t = np.arange(int(rt60 * sample_rate)) / sample_rate
    tail = rng.standard_normal(t.size) * 10.0 ** (-3.0 * t / rt60)  # -60 dB at t = rt60
    h = np.concatenate([np.zeros(delay), tail])
    return (h / np.sqrt(np.sum(h ** 2))).astype(np.float32)


def add_room(y, rng, rt60=None, wet=None):
    """``y`` in a small room: the dry signal plus ``wet`` times its reverberation (same RMS as the dry)."""
    from scipy.signal import fftconvolve

    y = np.asarray(y, np.float32)
    rt60 = rng.uniform(*RT60_SECONDS) if rt60 is None else rt60
    wet = rng.uniform(*WET) if wet is None else wet
    reverb = fftconvolve(y, room_impulse_response(rt60, rng))[:y.size]
    return (y + wet * reverb).astype(np.float32)


def coloured_noise(samples, rng, colour="white"):
    """Unit-RMS noise ``[samples]``: ``"white"`` (flat) or ``"pink"`` (power falling as 1/f)."""
    if colour not in ("white", "pink"):
        raise ParameterError(f"unknown noise colour {colour!r}; choose from: white, pink")
    noise = rng.standard_normal(samples)
    if colour == "pink":
        spectrum = np.fft.rfft(noise)
        f = np.fft.rfftfreq(samples)
        spectrum[1:] /= np.sqrt(f[1:] / f[1])
        spectrum[0] = 0.0
        noise = np.fft.irfft(spectrum, samples)
    return (noise / max(np.sqrt(np.mean(noise ** 2)), 1e-12)).astype(np.float32)


def add_noise_floor(y, rng, db_below_peak=None, colour=None):
    """``y`` plus white or pink noise whose RMS is ``db_below_peak`` dB under its peak sample."""
    y = np.asarray(y, np.float32)
    db = rng.uniform(*NOISE_DB_BELOW_PEAK) if db_below_peak is None else db_below_peak
    colour = rng.choice(["white", "pink"]) if colour is None else colour
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return (y + peak * 10.0 ** (-db / 20.0) * coloured_noise(y.size, rng, colour)).astype(np.float32)


def random_eq(y, rng, max_db=EQ_DB):
    """``y`` through a random tilt and one peaking band, each within ±``max_db`` dB (zero phase)."""
    y = np.asarray(y, np.float32)
    f = np.fft.rfftfreq(y.size, 1.0 / audio.SAMPLE_RATE)
    octaves = np.log2(np.clip(f, 50.0, 8000.0) / 50.0) / np.log2(8000.0 / 50.0)  # 0..1 across 50 Hz-8 kHz
    tilt = rng.uniform(-max_db, max_db) * (octaves - 0.5) * 2.0
    centre = np.exp(rng.uniform(np.log(150.0), np.log(5000.0)))
    band = rng.uniform(-max_db, max_db) * np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / centre) / 0.5) ** 2)
    gain = 10.0 ** (np.clip(tilt + band, -max_db, max_db) / 20.0)
    return np.fft.irfft(np.fft.rfft(y) * gain, y.size).astype(np.float32)


def microphone(y, rng):
    """``y`` through a gentle band limit: 2nd-order Butterworth high- and low-pass at random corners."""
    from scipy.signal import butter, sosfilt

    nyquist = audio.SAMPLE_RATE / 2.0
    sos = np.concatenate([butter(2, rng.uniform(*HIGHPASS_HZ) / nyquist, "highpass", output="sos"),
                          butter(2, min(rng.uniform(*LOWPASS_HZ), 0.95 * nyquist) / nyquist, "lowpass", output="sos")])
    return sosfilt(sos, np.asarray(y, np.float64)).astype(np.float32)


def degrade(y, rng):
    """The recording-like test condition: a small room, then a noise floor 30-40 dB below the peak."""
    return add_noise_floor(add_room(y, rng), rng)


def augment(y, rng):
    """A random recording of a clean note, for training: each condition applied with probability 1/2.

    In order: microphone colouring, EQ, small room, level change (-20..+6 dB),
    noise floor; at least one of them is applied.
    """
    steps = [microphone, random_eq, add_room, _level, add_noise_floor]
    chosen = rng.random(len(steps)) < 0.5
    if not chosen.any():
        chosen[rng.integers(len(steps))] = True
    y = np.asarray(y, np.float32)
    for step, on in zip(steps, chosen):
        if on:
            y = step(y, rng)
    return y


def _level(y, rng):
    return (np.asarray(y, np.float32) * 10.0 ** (rng.uniform(*LEVEL_DB) / 20.0)).astype(np.float32)


def condition(waveforms, name, seed=0):
    """The waveforms under a named condition (`CONDITIONS`), each from its own seeded generator.

    ``"clean"`` returns them as they are; ``"room-noise"`` applies `degrade`,
    clip ``i`` drawing from ``np.random.default_rng([seed, i])``, so a clip's
    condition does not depend on the others.
    """
    if name not in CONDITIONS:
        raise ParameterError(f"unknown recording condition {name!r}; choose from: {', '.join(CONDITIONS)}")
    if name == "clean":
        return [np.asarray(y, np.float32) for y in waveforms]
    return [degrade(y, np.random.default_rng([seed, i])) for i, y in enumerate(waveforms)]
