"""Phrases: monophonic melodies rendered with every instrument.

Single NSynth notes never show a model legato, releases in mid-clip or notes of
different lengths; a musician's phrase does.  The same melody is rendered with
each instrument, so a source and a target rendering of one melody are
time-aligned pairs (for pix2pix) and all renderings are unpaired pools (for
CycleGAN).  Melodies are generated (seeded, in a scale, varied lengths, rests,
dynamics) or taken from MIDI files (the top voice of the busiest part).

Layout, beside the notes of the same dataset and split by the same instruments::

    DIR/nsynth-{split}/phrases/{instrument_str}-{melody}.wav
    DIR/nsynth-{split}/phrases/{instrument_str}-{melody}.json

The JSON holds the melody's notes (onset and offset in seconds, MIDI pitch and
velocity), so pitch and timing can be checked note by note.
"""

import dataclasses
import json
import os
import re

import numpy as np

from soundtransform import audio
from soundtransform.data import SPLITS
from soundtransform.errors import DataError, ParameterError
from soundtransform.fileio import write_text
from soundtransform.render import DEFAULT_SOUNDFONTS, Renderer, import_synth_module, instruments, split_instruments

PHRASE_SECONDS = 8.0
PITCH_RANGE = (60, 84)  # C4..C6: where flutes and keyboards both sound in GM SoundFonts
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
DURATIONS = (0.25, 0.375, 0.5, 0.75, 1.0, 1.5)  # seconds


@dataclasses.dataclass(frozen=True)
class Phrase:
    """One rendering of a melody by one instrument."""

    instrument_str: str
    melody: str
    path: str
    notes: tuple  # of dicts: onset, offset (s), pitch, velocity

    @property
    def family(self):
        return self.instrument_str.rsplit("_", 2)[0]


def generate_melody(rng, seconds=PHRASE_SECONDS, pitch_range=PITCH_RANGE):
    """A random monophonic melody in a random major or minor key.

    Steps are mostly by one or two scale degrees, sometimes leaps; notes are
    legato or detached, with occasional rests and a slowly varying dynamic.

    Returns
    -------
    list of dict with ``onset``, ``offset`` (s), ``pitch`` (MIDI), ``velocity``
    """
    scale = SCALES[rng.choice(list(SCALES))]
    tonic = int(rng.integers(0, 12))
    pitches = [p for p in range(pitch_range[0], pitch_range[1] + 1) if (p - tonic) % 12 in scale]
    index = int(rng.integers(len(pitches) // 4, 3 * len(pitches) // 4))
    velocity = float(rng.integers(60, 110))
    notes, t = [], float(rng.choice([0.0, 0.25]))
    while t < seconds - 0.5:
        duration = float(rng.choice(DURATIONS))
        if rng.random() < 0.12 and notes:  # a rest
            t += duration
            continue
        step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, rng.integers(-5, 6)]))
        index = int(np.clip(index + step, 0, len(pitches) - 1))
        velocity = float(np.clip(velocity + rng.normal(0, 8), 40, 120))
        articulation = 1.0 if rng.random() < 0.5 else float(rng.uniform(0.6, 0.9))
        end = min(t + duration * articulation, seconds - 0.25)
        if end - t >= 0.1:
            notes.append(dict(onset=round(t, 4), offset=round(end, 4), pitch=pitches[index], velocity=int(velocity)))
        t += duration
    return notes


def top_voice(path, seconds=PHRASE_SECONDS, pitch_range=PITCH_RANGE, max_phrases=None):
    """Cut the top voice of a MIDI file's busiest non-drum part into phrases.

    Overlapping notes keep the highest (the "skyline"); pitches are moved by
    octaves into ``pitch_range``.

    Returns
    -------
    list of melodies (see `generate_melody`), each starting at 0 s.
    """
    pretty_midi = import_synth_module("pretty_midi")
    try:
        midi = pretty_midi.PrettyMIDI(os.fspath(path))
    except Exception as exc:
        raise DataError(f"cannot read {path} as MIDI: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    parts = [i for i in midi.instruments if not i.is_drum and i.notes]
    if not parts:
        raise DataError(f"{path} has no pitched notes")
    notes = sorted(max(parts, key=lambda i: len(i.notes)).notes, key=lambda n: (n.start, -n.pitch))
    line = []
    for n in notes:
        if line and n.start < line[-1][1]:
            if n.pitch <= line[-1][2]:
                continue
            line[-1][1] = n.start  # a higher note cuts the sounding one
        line.append([n.start, n.end, n.pitch, n.velocity])
    line = [x for x in line if x[1] - x[0] >= 0.05]
    melodies, current, origin = [], [], None
    for start, end, pitch, velocity in line:
        while pitch < pitch_range[0]:
            pitch += 12
        while pitch > pitch_range[1]:
            pitch -= 12
        if origin is None or start - origin >= seconds - 0.25:
            if current:
                melodies.append(current)
            current, origin = [], start
        current.append(dict(onset=round(start - origin, 4), offset=round(min(end - origin, seconds - 0.25), 4),
                            pitch=int(pitch), velocity=int(velocity)))
        if max_phrases and len(melodies) >= max_phrases:
            break
    if current and (not max_phrases or len(melodies) < max_phrases):
        melodies.append(current)
    return [m for m in melodies if m]


def render_phrases(out_dir, melodies=16, midi_files=(), soundfonts=DEFAULT_SOUNDFONTS, families=None,
                   seconds=PHRASE_SECONDS, valid_fraction=0.15, test_fraction=0.2, seed=0, progress=True):
    """Render every melody with every instrument into ``out_dir``.

    Parameters
    ----------
    melodies : int
        Generated melodies, used when no MIDI file is given.
    midi_files : sequence of str
        MIDI files whose top voices are cut into phrases.
    seed : int
        Seeds both the melodies and the instrument split (the same seed as the
        notes' render gives the same split).

    Returns
    -------
    dict with ``phrases``, ``melodies``, ``seconds``, ``realtime_factor``
    """
    import time

    from tqdm import tqdm

    if seconds <= 0 or seconds > 60:
        raise ParameterError(f"phrase length {seconds} s must be in (0, 60]")
    if midi_files:
        named = {}
        for path in midi_files:
            stem = re.sub(r"[^A-Za-z0-9]+", "_", os.path.splitext(os.path.basename(path))[0]).strip("_") or "midi"
            for k, melody in enumerate(top_voice(path, seconds)):
                named[f"{stem}_{k:03d}"] = melody
    else:
        if melodies < 1:
            raise ParameterError(f"--melodies must be at least 1, got {melodies}")
        rng = np.random.default_rng(seed)
        named = {f"m{k:04d}": generate_melody(rng, seconds) for k in range(melodies)}
    items = instruments(soundfonts, families)
    split_of = split_instruments(items, valid_fraction, test_fraction, seed)
    start, rendered = time.perf_counter(), 0.0
    renderers = {}
    bar = tqdm(total=len(items) * len(named), desc="phrases", unit="phrase", disable=not progress)
    written = 0
    try:
        for item in items:
            renderer = renderers.get(item["path"]) or renderers.setdefault(item["path"], Renderer(item["path"]))
            folder = os.path.join(out_dir, f"nsynth-{split_of[item['instrument_str']]}", "phrases")
            os.makedirs(folder, exist_ok=True)
            for melody_id, notes in named.items():
                bar.update(1)
                stem = os.path.join(folder, f"{item['instrument_str']}-{melody_id}")
                if os.path.exists(stem + ".json") and os.path.exists(stem + ".wav"):
                    written += 1
                    continue
                y = renderer.melody(item["program"], notes, seconds)
                rendered += seconds
                if audio.peak_db(y) < -60.0:
                    continue
                audio.save(stem + ".wav", y)
                # The JSON is written last: its presence marks a finished phrase.
                write_text(stem + ".json", json.dumps(
                    {"instrument_str": item["instrument_str"], "melody": melody_id, "seconds": seconds,
                     "notes": notes}, indent=1))
                written += 1
    finally:
        bar.close()
        for r in renderers.values():
            r.close()
    elapsed = time.perf_counter() - start
    return dict(phrases=written, melodies=len(named), seconds=elapsed,
                realtime_factor=rendered / elapsed if elapsed > 0 else float("inf"))


def read_phrases(root, split, families=None):
    """All phrases of one split, sorted by name; empty if there are none."""
    folder = os.path.join(root, f"nsynth-{split}", "phrases")
    if split not in SPLITS:
        raise ParameterError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if not os.path.isdir(folder):
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json") or name.startswith("."):
            continue
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
            phrase = Phrase(meta["instrument_str"], meta["melody"], path[:-5] + ".wav",
                            tuple(dict(n) for n in meta["notes"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"cannot read phrase {path}: {exc!r}") from None
        if families is None or phrase.family in families:
            out.append(phrase)
    return out


def notes_beside(audio_path):
    """The notes of the phrase JSON beside an audio file, or None if there is none.

    ``x/NAME.wav`` (any audio extension) looks for ``x/NAME.json`` with a
    ``notes`` list as written by `render_phrases`.

    Returns
    -------
    tuple of dict (``onset``, ``offset`` in s, ``pitch`` MIDI) or None

    Raises
    ------
    DataError
        The JSON exists but is not a phrase description.
    """
    path = os.path.splitext(os.fspath(audio_path))[0] + ".json"
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            notes = json.load(f)["notes"]
        notes = tuple(dict(onset=float(n["onset"]), offset=float(n["offset"]), pitch=int(n["pitch"]),
                           velocity=int(n.get("velocity", 100))) for n in notes)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read the notes of phrase {path}: {exc!r}") from None
    return notes


def window_starts(total, frames, hop=None):
    """First frames of ``frames``-long windows over ``total`` frames.

    Windows start every ``hop`` frames (default ``frames``: consecutive
    windows); the last one ends with the phrase (so it may overlap the one
    before), and a phrase shorter than one window is one window (padded with
    silence by `window_dataset`).

    Returns
    -------
    list of int
    """
    hop = frames if hop is None else int(hop)
    if hop <= 0:
        raise ParameterError(f"window hop {hop} must be a positive number of frames")
    if total <= frames:
        return [0]
    starts = list(range(0, total - frames + 1, hop))
    if starts[-1] + frames < total:
        starts.append(total - frames)
    return starts


def phrase_samples(paths, minimum=0):
    """The longest of the phrases' lengths at `audio.SAMPLE_RATE`, samples (at least ``minimum``)."""
    import soundfile as sf

    longest = int(minimum)
    for path in paths:
        try:
            info = sf.info(os.fspath(path))
        except (RuntimeError, OSError) as exc:
            raise DataError(f"cannot read phrase {path}: {exc}") from None
        longest = max(longest, -(-info.frames * audio.SAMPLE_RATE // info.samplerate))
    return longest


def window_dataset(paths, freq_bins, frames, samples=None, hop=None, peak_db=None):
    """Spectrogram-image windows of phrases, phrase by phrase, in order.

    Every phrase is read at ``samples`` samples (zero-padded or cut; default:
    the longest of ``paths``), so two lists of time-aligned phrases (the same
    melodies by a source and a target instrument) give windows of the same
    times in the same order: zip them for pairs.

    Parameters
    ----------
    paths : list of str, WAV files
    freq_bins, frames : int
        The method's image size.
    samples : int, optional
    hop : int, optional
        Frames between window starts (`window_starts`; default ``frames``,
        consecutive windows). A smaller hop gives overlapping windows that
        start at more places in the melody.
    peak_db : float, optional
        Each phrase scaled so its peak is at that many dBFS (`data.decode_wav`).

    Returns
    -------
    dataset : tf.data.Dataset of ``image [freq_bins, frames, 1]`` in [-1, 1], unbatched,
        ``len(paths) * len(starts)`` windows
    starts : list of int, the first frame of each phrase's windows (`window_starts`)
    """
    import tensorflow as tf

    from soundtransform.data import decode_wav

    if samples is None:
        samples = phrase_samples(paths)
    samples = max(int(samples), audio.frames_to_samples(frames))
    starts = window_starts(audio.samples_to_frames(samples), frames, hop)

    def to_windows(path):
        image, _ = audio.waveform_to_image(decode_wav(path, samples, peak_db), freq_bins)
        return tf.stack([tf.ensure_shape(image[:, s:s + frames], [freq_bins, frames, 1]) for s in starts])

    ds = tf.data.Dataset.from_tensor_slices([os.fspath(p) for p in paths])
    return ds.map(to_windows, num_parallel_calls=tf.data.AUTOTUNE).unbatch(), starts


def is_sounding(image, peak_db=-60.0):
    """True where a spectrogram-image window ``[freq, frames, 1]`` has a bin above ``peak_db`` (dB re full scale)."""
    import tensorflow as tf

    return tf.reduce_max(image) > 1.0 - 2.0 * peak_db / audio.DB_FLOOR


def pair_phrases(sources, targets):
    """Time-aligned pairs: renderings of the same melody by a source and a target instrument."""
    by_melody = {}
    for t in targets:
        by_melody.setdefault(t.melody, []).append(t)
    return [(s, t) for s in sources for t in by_melody.get(s.melody, [])]
