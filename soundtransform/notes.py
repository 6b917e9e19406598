"""Melodies cut into notes: onset bounds, and a converter that converts each note on its own.

``soundtransform convert`` converts note by note by default (`note_by_note`):
the models learnt isolated notes, each starting at its first sample, so a
melody cut at its attacks and converted note by note sounds more like the
target than one converted window by window (docs/experiments.md, "Phrases
and notes").
"""

import numpy as np
import scipy.fft

from soundtransform import audio
from soundtransform.tuning import pitch_track

BATCH_SIZE = 8  # notes of similar length converted in one call
NOTE_MIN_SECONDS = 0.15  # `note_bounds`: a shorter piece joins the note before it
NOTE_MIN_STRENGTH = 0.8  # `note_bounds`: weaker onsets are not notes (dB per sounding bin; docs/experiments.md) ...
NOTE_STRONG_STRENGTH = 2.0  # ... and weaker than this, only where the pitch changes (not a tremolo, a breath)
NOTE_MIN_SEMITONES = 0.7  # a change of pitch across an onset
MELODY_MIN_SECONDS = 0.1  # `is_melody`: a pitch held this long in all counts
NOTE_FADE_SECONDS = 0.005  # `note_by_note`: fade in and out of each converted note
ONSET_FFT = 1024  # `onset_strength`: 64-ms frames ...
ONSET_HOP = 128  # ... 8 ms apart
ONSET_BINS = (3, 480)  # ... of the bins from 47 Hz to 7.5 kHz
ONSET_LAG = 3  # frames: the rise is measured over 24 ms, which a flute's soft attack still shows
FLOOR_PERCENTILE = 20  # each bin's noise floor: this percentile of its level over the clip ...
FLOOR_RANGE_DB = 60.0  # ... but never more than this far below the clip's loudest bin
FLOOR_MARGIN_DB = 6.0  # levels less than this above the floor count as the floor


def onset_strength(y):
    """Spectral flux above each bin's noise floor: ``[frames]``, dB per sounding bin, one frame per 8 ms.

    Each bin's level is clipped from below at its noise floor (its
    `FLOOR_PERCENTILE` level over the clip, at most `FLOOR_RANGE_DB` below
    the loudest bin) plus `FLOOR_MARGIN_DB`, so the fluctuations of a noise
    floor, a room or breath add nothing.  Each bin's rise over `ONSET_LAG`
    frames is measured from the loudest of it and its two neighbours (as
    SuperFlux does, Böck & Widmer 2013), so vibrato adds nothing either; the
    rises are summed over the bins that sound at some time and divided by
    their count.  Frame ``i`` is centred on sample ``i * ONSET_HOP``.
    """
    from scipy.ndimage import maximum_filter1d

    from soundtransform.spectral import frame

    y = np.pad(np.asarray(y, np.float32), ONSET_FFT // 2)
    window = np.hanning(ONSET_FFT).astype(np.float32)
    spectrum = scipy.fft.rfft(frame(y, ONSET_FFT, ONSET_HOP) * window, axis=-1)[:, slice(*ONSET_BINS)]
    level = 20.0 * np.log10(np.abs(spectrum) + 1e-9)
    floor = np.maximum(np.percentile(level, FLOOR_PERCENTILE, axis=0), level.max() - FLOOR_RANGE_DB)
    floor = floor + FLOOR_MARGIN_DB
    clipped = np.maximum(level, floor)
    rise = np.zeros_like(clipped)
    ref = maximum_filter1d(clipped, 3, axis=1)  # a partial moving by a bin (vibrato) is no rise
    rise[ONSET_LAG:] = np.maximum(clipped[ONSET_LAG:] - ref[:-ONSET_LAG], 0.0)
    sounding = np.percentile(level, 95, axis=0) > floor
    return rise[:, sounding].sum(axis=1) / max(int(sounding.sum()), 1)


def _attack_start(y, peak):
    """The sample where the attack before an onset-strength peak at sample ``peak`` begins.

    In 4-ms frames 2 ms apart over the 64 ms before the peak and 16 ms after,
    the first frame after the quietest one that rises a third of the way
    (in dB) from it to the loudest; the peak less a frame's lag where the
    level does not move by 6 dB (a slurred note).
    """
    a, b = max(0, peak - ONSET_FFT), min(y.size, peak + 256)
    frames = np.lib.stride_tricks.sliding_window_view(y[a:b], 64)[::32]
    if not len(frames):
        return peak
    level = 10.0 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    low = int(np.argmin(level))
    rise = float(level[low:].max() - level[low])
    if rise < 6.0:
        return max(0, peak - ONSET_LAG * ONSET_HOP // 2)
    rising = np.flatnonzero(level[low:] >= level[low] + rise / 3.0)
    return a + (low + int(rising[0])) * 32


def _pitch_changes(pitch, f):
    """Whether the median pitch of the 100 ms after frame ``f`` differs from the 100 ms before by at least
    `NOTE_MIN_SEMITONES` (NaN-free medians of both needed)."""
    span = int(0.1 * audio.SAMPLE_RATE / ONSET_HOP)
    before, after = pitch[max(0, f - span - 2): max(0, f - 2)], pitch[f + 2: f + 2 + span]
    before, after = before[np.isfinite(before)], after[np.isfinite(after)]
    if before.size < 3 or after.size < 3:
        return before.size < 3 <= after.size  # a note out of silence or noise
    return abs(float(np.median(after) - np.median(before))) >= NOTE_MIN_SEMITONES


def is_melody(y, pitch=None):
    """Whether a clip holds more than one pitch: at least `MELODY_MIN_SECONDS` of each of two semitones.

    The YIN pitch (`pitch_track`), median-filtered over 40 ms and rounded to
    semitones; vibrato stays within one.  A single note, however it wavers,
    is no melody; neither are notes repeated at one pitch.  ``pitch``: the
    clip's `pitch_track`, where the caller has it.
    """
    from scipy.ndimage import median_filter

    pitch = pitch_track(y) if pitch is None else pitch
    pitch = median_filter(np.nan_to_num(pitch, nan=-1.0), size=5)
    semitones = np.round(pitch[pitch > 0]).astype(int)
    values, counts = np.unique(semitones, return_counts=True)
    held = values[counts * ONSET_HOP >= MELODY_MIN_SECONDS * audio.SAMPLE_RATE]
    return held.size >= 2


def note_bounds(y, min_seconds=NOTE_MIN_SECONDS, pitch=None):
    """Sample bounds ``[(start, end), ...]`` of the notes of a 16-kHz clip, covering it end to end.

    Onsets are the peaks of `onset_strength` (largest within 50 ms) of at
    least `NOTE_STRONG_STRENGTH`, or of at least `NOTE_MIN_STRENGTH` where
    the pitch changes across them (`_pitch_changes`: a slur, or a note out of
    silence; a tremolo or a breath in a held note has neither), each moved
    back to where its attack begins
    (`_attack_start`): the models learnt notes that start at their first
    sample, and put a keyboard's attack there, so a cut 30 ms early or 8 ms
    late costs a note its attack (docs/experiments.md, "Phrases and notes").
    A piece shorter than ``min_seconds`` joins the note before it.  The
    strength is measured above each bin's own noise floor, so a noise floor
    30-40 dB below the peak and a small room leave the onsets found.  A clip
    with no onset but its start is one note.  ``pitch``: the clip's
    `pitch_track`, where the caller has it.
    """
    from scipy.ndimage import maximum_filter1d

    y = np.asarray(y, np.float32)
    if y.size < 2 * ONSET_FFT:
        return [(0, int(y.size))]
    strength = onset_strength(y)
    reach = int(0.05 * audio.SAMPLE_RATE / ONSET_HOP)
    peaks = np.flatnonzero((strength == maximum_filter1d(strength, 2 * reach + 1)) & (strength >= NOTE_MIN_STRENGTH))
    starts = [0]
    for f in peaks:
        if strength[f] < NOTE_STRONG_STRENGTH:
            if pitch is None:
                pitch = pitch_track(y)
            if not _pitch_changes(pitch, f):
                continue
        t = _attack_start(y, f * ONSET_HOP)
        if t - starts[-1] >= min_seconds * audio.SAMPLE_RATE and y.size - t >= min_seconds * audio.SAMPLE_RATE:
            starts.append(t)
    return list(zip(starts, starts[1:] + [int(y.size)]))


def note_by_note(converter, min_seconds=NOTE_MIN_SECONDS, melodies_only=False):
    """A `Converter` that converts each note of a clip on its own (`note_bounds`): `convert`'s default.

    The models learnt isolated notes best: a phrase converted window by
    window keeps more of the source in its short notes (docs/experiments.md,
    "Phrases and notes").  Each note is converted as a clip of its own, so level
    matching lifts it alone, and put back in place with
    `NOTE_FADE_SECONDS` fades; a note's output ends where the next note
    starts.  Costs one generator window per note.  With ``melodies_only``
    (`convert`'s default) a clip that `is_melody` calls one note is
    converted whole.
    """
    fade = int(NOTE_FADE_SECONDS * audio.SAMPLE_RATE)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)

    def transform(waveforms):
        waveforms = np.asarray(waveforms, np.float32)
        out = np.zeros_like(waveforms)
        for i, y in enumerate(waveforms):
            pitch = pitch_track(y) if melodies_only and y.size >= 2 * ONSET_FFT else None
            whole = melodies_only and (pitch is None or not is_melody(y, pitch))
            bounds = [(0, int(y.size))] if whole else note_bounds(y, min_seconds, pitch)
            by_length = sorted(bounds, key=lambda bound: bound[1] - bound[0])
            for k in range(0, len(by_length), BATCH_SIZE):  # notes of similar length, padded to the longest
                group = by_length[k:k + BATCH_SIZE]
                pieces = np.zeros((len(group), max(b - a for a, b in group)), np.float32)
                for j, (a, b) in enumerate(group):
                    pieces[j, : b - a] = y[a:b]
                for (a, b), note in zip(group, converter.convert_batch(pieces)):
                    note = note[: b - a].copy()
                    if len(bounds) > 1 and note.size > 2 * fade:
                        note[:fade] *= ramp if a > 0 else 1.0
                        note[-fade:] *= ramp[::-1] if b < y.size else 1.0
                    out[i, a:b] = note
        return out

    return converter.wrapped(transform, by_note="melodies" if melodies_only else True)
