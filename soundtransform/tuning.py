"""A sound's pitch, and a sound moved to another's pitch (Slow's style note, ``style_pitch="match"``).

Slow copies its style's Gram statistics and, with per-band energy
envelopes, the style's partials band by band: a style note at another pitch
than the content pulls the output to the style's partials (measured: 3 of 12
test flutes kept their pitch with a piano style note up to 12 semitones away).
`match_pitch` transposes the style to the content's pitch first, by
resampling, so its partials lie where the content's do.
"""

import numpy as np

from soundtransform import audio

F0_MIN, F0_MAX = 65.4, 2093.0  # C2 .. C7, Hz: the range searched
PITCH_SECONDS = 4.0  # the first seconds of a clip whose pitch is measured


def median_f0(y):
    """Median pYIN f0 (Hz) of the voiced frames of the first `PITCH_SECONDS` of ``y`` (16 kHz); NaN if none."""
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
        raise ValueError(f"a transposition ratio must be a positive number, not {ratio!r}")
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
