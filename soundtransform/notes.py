"""Melodies cut into notes: onset bounds, and a converter that converts each note on its own.

``soundtransform convert --by-note`` (`note_by_note`): the models learnt
isolated notes best, so a melody converted note by note keeps less of its
source than one converted window by window (docs/experiments.md, "Phrases
and --by-note").
"""

import numpy as np

from soundtransform import audio

BATCH_SIZE = 8  # notes of similar length converted in one call
NOTE_MIN_SECONDS = 0.15  # `note_bounds`: a shorter piece joins the note before it
NOTE_MIN_STRENGTH = 1.0  # `note_bounds`: weaker onsets are not notes (conservative; docs/experiments.md)
NOTE_FADE_SECONDS = 0.005  # `note_by_note`: fade in and out of each converted note


def note_bounds(y, min_seconds=NOTE_MIN_SECONDS):
    """Sample bounds ``[(start, end), ...]`` of the notes of a 16-kHz clip, covering it end to end.

    Onsets are librosa's spectral-flux onsets (8-ms hops) whose strength is
    at least `NOTE_MIN_STRENGTH` (dB, mean over mel bands: librosa's peak
    picking alone is relative, and finds onsets in a steady tone), each moved
    back to the energy minimum before it; a piece shorter than
    ``min_seconds`` joins the note before it.  A clip with no onset but its
    start is one note.
    """
    import librosa

    y = np.asarray(y, np.float32)
    if y.size < 2048:
        return [(0, int(y.size))]
    hop = 128
    strength = librosa.onset.onset_strength(y=y, sr=audio.SAMPLE_RATE, hop_length=hop)
    frames = librosa.onset.onset_detect(onset_envelope=strength, sr=audio.SAMPLE_RATE, hop_length=hop)
    frames = frames[strength[frames] >= NOTE_MIN_STRENGTH]
    frames = librosa.onset.onset_backtrack(frames, strength) if frames.size else frames
    starts = [0]
    for t in sorted(int(f) * hop for f in frames):
        if t - starts[-1] >= min_seconds * audio.SAMPLE_RATE and y.size - t >= min_seconds * audio.SAMPLE_RATE:
            starts.append(t)
    return list(zip(starts, starts[1:] + [int(y.size)]))


def note_by_note(converter, min_seconds=NOTE_MIN_SECONDS):
    """A `Converter` that converts each note of a clip on its own (`note_bounds`), for melodies.

    The models learnt isolated notes best: a phrase converted window by
    window keeps more of the source in its short notes (docs/experiments.md,
    "Phrases and --by-note").  Each note is converted as a clip of its own, so level
    matching lifts it alone, and put back in place with
    `NOTE_FADE_SECONDS` fades; a note's output ends where the next note
    starts.  Costs one generator window per note.
    """
    fade = int(NOTE_FADE_SECONDS * audio.SAMPLE_RATE)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)

    def transform(waveforms):
        waveforms = np.asarray(waveforms, np.float32)
        out = np.zeros_like(waveforms)
        for i, y in enumerate(waveforms):
            bounds = note_bounds(y, min_seconds)
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

    return converter.wrapped(transform, by_note=True)
