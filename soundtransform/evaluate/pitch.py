"""Pitch of single notes: does an output keep its input's pitch?

pYIN (Mauch & Dixon 2014, ``librosa.pyin``) estimates f0 of output and input;
the error is ``1200 log2(f0_out / f0_in)`` cents on the median f0 of the
voiced frames of 0.1-1.6 s (the held part of a note).
"""

import numpy as np

from soundtransform import audio, data
from soundtransform.errors import DataError

PITCH_TOLERANCE_CENTS = 50.0
F0_MIN, F0_MAX = 65.4, 2093.0  # C2 .. C7, Hz: the range pYIN searches
PITCH_SECONDS = (0.1, 1.6)  # the sustained part of an NSynth-style note, s


def f0(y):
    """Median f0 of the voiced frames of the sustained part of a note, Hz (NaN if unvoiced).

    pYIN on `PITCH_SECONDS` of ``y [shape=(samples,)]`` at 16 kHz, searched
    between C2 and C7 in 10-cent steps, 64 ms hops.
    """
    import librosa

    lo, hi = (int(s * audio.SAMPLE_RATE) for s in PITCH_SECONDS)
    segment = np.asarray(y, np.float32)[lo:hi]
    if segment.size < 2048 or not np.any(segment):
        return float("nan")
    f, voiced, _ = librosa.pyin(segment, fmin=F0_MIN, fmax=F0_MAX, sr=audio.SAMPLE_RATE,
                                frame_length=2048, hop_length=1024)
    f = f[voiced & np.isfinite(f)]
    return float(np.median(f)) if f.size else float("nan")


def pitch_preservation(outputs, inputs, progress=False):
    """How well outputs keep their inputs' pitch.

    Parameters
    ----------
    outputs, inputs : list of np.ndarray [shape=(samples,)], paired, 16 kHz

    Returns
    -------
    dict: ``within_50_cents`` (share of pairs), ``median_abs_cents``,
    ``octave_errors`` (share off by a whole number of octaves, +-1 semitone),
    ``unvoiced_outputs`` (share with no f0), ``pairs`` (with an input f0).
    """
    from tqdm import tqdm

    cents, unvoiced = [], 0
    for out, inp in tqdm(list(zip(outputs, inputs)), desc="pitch (pyin)", unit="pair", disable=not progress,
                         leave=False):
        f_in = f0(inp)
        if not np.isfinite(f_in):
            continue
        f_out = f0(out)
        if not np.isfinite(f_out):
            unvoiced += 1
            continue
        cents.append(1200.0 * np.log2(f_out / f_in))
    pairs = len(cents) + unvoiced
    if not pairs:
        return {"pairs": 0, "within_50_cents": None, "median_abs_cents": None, "octave_errors": None,
                "unvoiced_outputs": None}
    cents = np.abs(np.array(cents))
    octave = (cents > 600.0) & (np.abs(cents - 1200.0 * np.round(cents / 1200.0)) <= 100.0)
    return {
        "pairs": pairs,
        "within_50_cents": float(np.sum(cents <= PITCH_TOLERANCE_CENTS) / pairs),
        "median_abs_cents": float(np.median(cents)) if cents.size else None,
        "octave_errors": float(np.sum(octave) / pairs),
        "unvoiced_outputs": float(unvoiced / pairs),
    }


def midi_pitch(path, y=None):
    """MIDI pitch of a note: from its NSynth file name, else from pYIN on ``y``, else None."""
    try:
        return data.parse_note_name(path).pitch
    except DataError:
        pass
    if y is None:
        return None
    f = f0(y)
    return int(round(69 + 12 * np.log2(f / 440.0))) if np.isfinite(f) else None
