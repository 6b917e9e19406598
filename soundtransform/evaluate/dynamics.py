"""Attack and decay of each note: how long it takes to reach its peak, and how far its level falls.

A note's envelope is its RMS in 16-ms frames every 8 ms, from its onset to
its offset (the next onset, or the end of the clip), in dB re its loudest
frame, floored at -80 dB so that digital silence has a level.

Attack
    Onset to peak, ms: the start of the loudest frame.  A struck or plucked
    note (piano, guitar) peaks within tens of ms; a blown or bowed one
    (flute, strings) later.
Decay
    Level fall, dB: the mean power of the note's first sixth over the mean
    power of its last sixth.  A piano note falls tens of dB while held; a
    flute's sustain barely falls.

The figures are summarised per set of notes (median and quartiles), so a
model's outputs can be set beside the natural notes of the target family
and beside its inputs.
"""

import numpy as np

from soundtransform import audio

FRAME_SAMPLES = 256  # 16 ms
HOP_SAMPLES = 128  # 8 ms
FLOOR_DB = -80.0  # re the note's loudest frame
MIN_NOTE_SECONDS = 0.06  # shorter notes have too few frames for an envelope


def envelope_db(y):
    """RMS envelope of a note in dB re its loudest frame.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,)], 16 kHz, starting at the note's onset

    Returns
    -------
    np.ndarray [shape=(frames,)], dB, at most 0, at least `FLOOR_DB`; frame
    ``i`` covers samples ``[i * HOP_SAMPLES, i * HOP_SAMPLES + FRAME_SAMPLES)``
    """
    y = np.asarray(y, np.float64)
    if y.size < FRAME_SAMPLES:
        y = np.pad(y, (0, FRAME_SAMPLES - y.size))
    frames = 1 + (y.size - FRAME_SAMPLES) // HOP_SAMPLES
    index = np.arange(FRAME_SAMPLES)[None] + HOP_SAMPLES * np.arange(frames)[:, None]
    power = np.mean(y[index] ** 2, axis=1)
    if not power.max() > 0:
        return np.full(frames, FLOOR_DB)
    return np.maximum(10.0 * np.log10(np.maximum(power / power.max(), 1e-30)), FLOOR_DB)


def attack_decay(y):
    """Onset-to-peak time (ms) and level fall (dB, first sixth over last sixth) of one note.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,)], 16 kHz, the note from its onset to its offset

    Returns
    -------
    (attack_ms, fall_db) : (float, float)
    """
    envelope = envelope_db(y)
    attack_ms = 1000.0 * int(np.argmax(envelope)) * HOP_SAMPLES / audio.SAMPLE_RATE
    sixth = max(1, envelope.size // 6)
    power = 10.0 ** (envelope / 10.0)
    fall_db = 10.0 * np.log10(power[:sixth].mean() / power[-sixth:].mean())
    return attack_ms, float(fall_db)


def _summary(values):
    values = np.asarray(values, np.float64)
    if not values.size:
        return {"median": None, "p25": None, "p75": None}
    p25, median, p75 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "p25": float(p25), "p75": float(p75)}


def note_dynamics(waveforms, note_lists=None):
    """Attack and decay of every note of a set of clips, summarised.

    Parameters
    ----------
    waveforms : list of np.ndarray [shape=(samples,)], 16 kHz
    note_lists : list of sequences of dict with ``onset`` (s) and optionally ``offset`` (s), optional
        The notes of each clip; a note ends at its ``offset``, else at the
        next onset or the end of the clip.  None: each clip is one note.

    Returns
    -------
    dict: ``notes`` (measured; notes under `MIN_NOTE_SECONDS` are left
    out), ``attack_ms`` and ``fall_db``, each ``{"median", "p25", "p75"}``.
    """
    attacks, falls = [], []
    for k, y in enumerate(waveforms):
        y = np.asarray(y, np.float32)
        notes = [{"onset": 0.0}] if note_lists is None else sorted(note_lists[k], key=lambda n: n["onset"])
        for i, n in enumerate(notes):
            end = notes[i + 1]["onset"] if i + 1 < len(notes) else y.size / audio.SAMPLE_RATE
            end = min(n.get("offset", end), end)
            a, b = int(round(n["onset"] * audio.SAMPLE_RATE)), int(round(end * audio.SAMPLE_RATE))
            if (b - a) < MIN_NOTE_SECONDS * audio.SAMPLE_RATE:
                continue
            attack, fall = attack_decay(y[a:b])
            attacks.append(attack)
            falls.append(fall)
    return {"notes": len(attacks), "attack_ms": _summary(attacks), "fall_db": _summary(falls)}
