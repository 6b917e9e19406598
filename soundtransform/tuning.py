"""A sound's pitch, and a sound moved to another's pitch (Slow's style note, ``style_pitch="match"``).

Slow copies its style's Gram statistics and, with per-band energy
envelopes, the style's partials band by band: a style note at another pitch
than the content pulls the output to the style's partials (measured: 3 of 12
test flutes kept their pitch with a piano style note up to 12 semitones away).
`match_pitch` transposes the style to the content's pitch first, by
resampling, so its partials lie where the content's do.
"""

import numpy as np
import scipy.fft

from soundtransform import audio
from soundtransform.errors import ParameterError

YIN_THRESHOLD = 0.25  # `pitch_track`: a frame is periodic where YIN's minimum is under this ...
YIN_MAX_LAG = 400  # ... at a lag under this (40 Hz)
PITCH_SECONDS = 4.0  # `median_f0`: the first seconds of a clip whose pitch is measured ...
F0_MIN, F0_MAX = 65.4, 2093.0  # ... between C2 and C7, Hz


def pitch_track(y, hop=128, size=1024):
    """YIN (de Cheveigne & Kawahara 2002) pitch of ``size``-sample frames ``hop`` apart, frame ``i`` centred
    on sample ``i * hop``: MIDI numbers, NaN where a frame is not clearly periodic (YIN's minimum above
    `YIN_THRESHOLD`) or holds no periodicity between 40 Hz and 2.5 kHz."""
    from soundtransform.spectral import frame

    lags = YIN_MAX_LAG
    frames = frame(np.pad(np.asarray(y, np.float32), size // 2), size, hop)
    width = size - lags
    spectrum = scipy.fft.rfft(frames, 2 * size, axis=-1)
    head = scipy.fft.rfft(frames[:, :width], 2 * size, axis=-1)
    corr = scipy.fft.irfft(np.conj(head) * spectrum, 2 * size, axis=-1)[:, :lags]
    energy = np.cumsum(np.pad(frames.astype(np.float64) ** 2, ((0, 0), (1, 0))), axis=1)
    diff = (energy[:, width] - energy[:, 0])[:, None] + (energy[:, width:width + lags] - energy[:, :lags]) - 2 * corr
    diff[:, 0] = 0.0
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * np.arange(1, lags) / np.maximum(np.cumsum(diff[:, 1:], axis=1), 1e-12)
    cmnd[:, : audio.SAMPLE_RATE // 2500] = 1.0
    lag = np.argmax(cmnd < YIN_THRESHOLD, axis=1)
    rows = np.arange(len(lag))
    while True:  # from the first lag under the threshold down to its local minimum
        step = (lag + 1 < lags) & (lag > 0)
        step[step] = cmnd[rows[step], lag[step] + 1] < cmnd[rows[step], lag[step]]
        if not step.any():
            break
        lag = lag + step
    voiced = (lag > 0) & (cmnd[rows, lag] < YIN_THRESHOLD)
    return np.where(voiced, 69.0 + 12.0 * np.log2(audio.SAMPLE_RATE / np.maximum(lag, 1) / 440.0), np.nan)


def median_f0(y):
    """Median pYIN f0 (Hz) of the voiced frames of the first `PITCH_SECONDS` of ``y`` (16 kHz); NaN if none.

    pYIN, not `pitch_track`: on 12 test flutes styled by piano notes up to 12
    semitones away, Slow kept 12 in pitch with pYIN's medians and 11 with
    YIN's (an octave error), at 0.3 s against 35 ms a note.
    """
    import librosa

    y = np.asarray(y, np.float32)[: int(PITCH_SECONDS * audio.SAMPLE_RATE)]
    if y.size < 2048 or not np.any(y):
        return float("nan")
    f, voiced, _ = librosa.pyin(y, fmin=F0_MIN, fmax=F0_MAX, sr=audio.SAMPLE_RATE, frame_length=2048,
                                hop_length=1024)
    f = f[voiced & np.isfinite(f)]
    return float(np.median(f)) if f.size else float("nan")


def transpose(y, ratio):
    """``y`` played ``ratio`` times faster: every frequency times ``ratio``, the length divided by it."""
    if not np.isfinite(ratio) or ratio <= 0:
        raise ParameterError(f"a transposition ratio must be a positive number, not {ratio!r}")
    if abs(ratio - 1.0) < 1e-4:
        return np.asarray(y, np.float32)
    return audio.resample(np.asarray(y, np.float32), int(round(audio.SAMPLE_RATE * ratio)), audio.SAMPLE_RATE)


def match_pitch(style, content):
    """``style`` transposed to the median pitch of ``content``; unchanged where either has no pitch.

    Returns
    -------
    (np.ndarray, float): the transposed style and the ratio applied (1.0 where unchanged).
    """
    f_style, f_content = median_f0(style), median_f0(content)
    if not (np.isfinite(f_style) and np.isfinite(f_content)):
        return np.asarray(style, np.float32), 1.0
    ratio = f_content / f_style
    return transpose(style, ratio), float(ratio)
