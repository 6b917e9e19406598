"""Read NSynth-layout datasets, pair notes, and feed spectrogram images to training.

The layout is NSynth's own::

    ROOT/nsynth-train/audio/flute_acoustic_002-060-100.wav
    ROOT/nsynth-train/examples.json
    ROOT/nsynth-valid/...
    ROOT/nsynth-test/...

``examples.json`` maps each note name to its attributes; when it is missing the
attributes are parsed from the file names ``{family}_{source}_{NNN}-{PPP}-{VVV}``.
A real NSynth download and a dataset rendered by `soundtransform.render` read the
same way.
"""

import dataclasses
import json
import os
import re

import numpy as np

from soundtransform.errors import DataError, ParameterError

# NSynth's family and source ids, in NSynth's order.
FAMILIES = (
    "bass",
    "brass",
    "flute",
    "guitar",
    "keyboard",
    "mallet",
    "organ",
    "reed",
    "string",
    "synth_lead",
    "vocal",
)
SOURCES = ("acoustic", "electronic", "synthetic")
SPLITS = ("train", "valid", "test")

_NAME = re.compile(
    r"^(?P<family>[a-z_]+)_(?P<source>acoustic|electronic|synthetic)_(?P<number>\d{3})"
    r"-(?P<pitch>\d{3})-(?P<velocity>\d{3})$"
)


@dataclasses.dataclass(frozen=True)
class Note:
    """One NSynth note: an instrument playing one pitch at one velocity.

    Attributes
    ----------
    family, source : str
        NSynth's instrument family and source.
    instrument : int
        The number ``NNN`` of ``instrument_str``.
    pitch : int, MIDI note number
    velocity : int, MIDI velocity
    path : str or None
        The WAV file, when the note was read from disk.
    """

    family: str
    source: str
    instrument: int
    pitch: int
    velocity: int
    path: str = None

    @property
    def instrument_str(self):
        return f"{self.family}_{self.source}_{self.instrument:03d}"

    @property
    def note_str(self):
        return f"{self.instrument_str}-{self.pitch:03d}-{self.velocity:03d}"

    @property
    def family_id(self):
        return FAMILIES.index(self.family)

    def to_example(self, index):
        """The note's entry in NSynth's ``examples.json``."""
        return {
            "note": index,
            "note_str": self.note_str,
            "instrument": self.instrument,
            "instrument_str": self.instrument_str,
            "pitch": self.pitch,
            "velocity": self.velocity,
            "sample_rate": 16000,
            "instrument_family": self.family_id,
            "instrument_family_str": self.family,
            "instrument_source": SOURCES.index(self.source),
            "instrument_source_str": self.source,
            "qualities": [0] * 10,
            "qualities_str": [],
        }


def parse_note_name(name):
    """Parse ``family_source_NNN-PPP-VVV[.wav]`` into a `Note` (without path)."""
    stem = os.path.splitext(os.path.basename(name))[0]
    m = _NAME.match(stem)
    if m is None or m["family"] not in FAMILIES:
        raise DataError(
            f"{name!r} is not an NSynth note name (family_source_NNN-PPP-VVV, "
            f"family one of {', '.join(FAMILIES)})"
        )
    return Note(
        family=m["family"],
        source=m["source"],
        instrument=int(m["number"]),
        pitch=int(m["pitch"]),
        velocity=int(m["velocity"]),
    )


def _note_from_example(key, entry, audio_dir):
    if not isinstance(entry, dict):
        raise DataError(f"examples.json entry {key!r} is not an object")
    try:
        family = entry["instrument_family_str"]
        source = entry["instrument_source_str"]
        instrument_str = entry.get("instrument_str", "")
        number = int(instrument_str.rsplit("_", 1)[1]) if instrument_str else int(entry["instrument"])
        note = Note(
            family=str(family),
            source=str(source),
            instrument=number,
            pitch=int(entry["pitch"]),
            velocity=int(entry["velocity"]),
            path=os.path.join(audio_dir, f"{entry.get('note_str', key)}.wav"),
        )
    except (KeyError, ValueError, TypeError, IndexError, OverflowError) as exc:
        raise DataError(f"examples.json entry {key!r} is malformed ({exc!r})") from None
    if note.family not in FAMILIES or note.source not in SOURCES:
        raise DataError(f"examples.json entry {key!r} has unknown family or source")
    return note


def split_dir(root, split):
    """Folder of one split: ``root/nsynth-{split}``, or ``root`` itself if it is one."""
    if split not in SPLITS:
        raise ParameterError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    candidate = os.path.join(root, f"nsynth-{split}")
    if os.path.isdir(candidate):
        return candidate
    if os.path.basename(os.path.normpath(root)) == f"nsynth-{split}":
        return root
    return None


def read_split(root, split):
    """All notes of one split of an NSynth-layout dataset.

    Returns
    -------
    list of `Note`, sorted by name; empty if the split does not exist.

    Raises
    ------
    DataError
        ``root`` is missing, or ``examples.json`` is malformed.
    """
    if not os.path.isdir(root):
        raise DataError(f"dataset folder {root} does not exist")
    folder = split_dir(root, split)
    if folder is None:
        return []
    audio_dir = os.path.join(folder, "audio")
    meta = os.path.join(folder, "examples.json")
    if os.path.isfile(meta):
        try:
            with open(meta, encoding="utf-8") as f:
                examples = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read {meta}: {exc}") from None
        if not isinstance(examples, dict):
            raise DataError(f"{meta} must map note names to their attributes")
        notes = [_note_from_example(k, v, audio_dir) for k, v in examples.items()]
    elif os.path.isdir(audio_dir):
        notes = [
            dataclasses.replace(parse_note_name(name), path=os.path.join(audio_dir, name))
            for name in os.listdir(audio_dir)
            if name.endswith(".wav") and not name.startswith(".")
        ]
    else:
        return []
    return sorted(notes, key=lambda n: n.note_str)


def select(notes, families=None, sources=None, pitch_range=None, velocities=None, instruments=None):
    """Filter notes.

    Parameters
    ----------
    families, sources : sequence of str, optional
    pitch_range : (int, int), optional
        Inclusive MIDI range.
    velocities : sequence of int, optional
    instruments : sequence of str, optional
        ``instrument_str`` values.
    """
    if families is not None:
        for family in families:
            if family not in FAMILIES:
                raise ParameterError(
                    f"unknown family {family!r}; choose from: {', '.join(FAMILIES)}"
                )
    out = []
    for n in notes:
        if families is not None and n.family not in families:
            continue
        if sources is not None and n.source not in sources:
            continue
        if pitch_range is not None and not pitch_range[0] <= n.pitch <= pitch_range[1]:
            continue
        if velocities is not None and n.velocity not in velocities:
            continue
        if instruments is not None and n.instrument_str not in instruments:
            continue
        out.append(n)
    return out


def load_notes(root, split, **filters):
    """`read_split` then `select`; raises `DataError` if nothing matches."""
    notes = select(read_split(root, split), **filters)
    if not notes:
        shown = ", ".join(f"{k}={v}" for k, v in filters.items() if v is not None)
        raise DataError(f"no notes in split {split!r} of {root}" + (f" with {shown}" if shown else ""))
    return notes


def pair_notes(sources, targets, max_targets=None, seed=0):
    """Pair source and target notes with the same pitch and velocity (pix2pix).

    Parameters
    ----------
    sources, targets : list of `Note`
    max_targets : int, optional
        Keep at most this many targets per source note (chosen at random).

    Returns
    -------
    list of (source `Note`, target `Note`)
    """
    by_key = {}
    for t in targets:
        by_key.setdefault((t.pitch, t.velocity), []).append(t)
    rng = np.random.default_rng(seed)
    pairs = []
    for s in sources:
        matches = by_key.get((s.pitch, s.velocity), [])
        if max_targets is not None and len(matches) > max_targets:
            matches = [matches[i] for i in sorted(rng.choice(len(matches), max_targets, replace=False))]
        pairs.extend((s, t) for t in matches)
    return pairs


# ----------------------------------------------------------------- tf.data


def decode_wav(path, samples, peak_db=None):
    """Read a WAV file inside a tf.data pipeline as mono float32 at 16 kHz.

    Uses TensorFlow's own WAV decoder; files at another rate are resampled with
    tensorflow-io, which is what it earns its place in the stack for.
    ``peak_db``: scaled so its peak is at that many dBFS (`audio.level_gain`,
    as an export's level matching scales what it converts); None: as written.

    Returns
    -------
    tf.Tensor [shape=(samples,)], zero-padded or cropped.
    """
    import tensorflow as tf

    from soundtransform.audio import SAMPLE_RATE

    y, rate = tf.audio.decode_wav(tf.io.read_file(path))
    y = tf.reduce_mean(y, axis=-1)

    def _resample():
        import logging

        import tensorflow_io as tfio

        # tfio's resample is vectorised with a while_loop and says so on every
        # trace; the message is noise to a user.
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            return tfio.audio.resample(y, tf.cast(rate, tf.int64), SAMPLE_RATE)
        finally:
            logger.setLevel(level)

    y = tf.cond(tf.equal(rate, SAMPLE_RATE), lambda: y, _resample)
    y = y[:samples]
    y = tf.pad(y, [[0, samples - tf.shape(y)[0]]])
    if peak_db is None:
        return y
    from soundtransform.audio import level_gain

    return y * level_gain(y, peak_db)


def image_dataset(paths, labels=None, freq_bins=None, frames=None, cache=True, peak_db=None):
    """A tf.data pipeline of spectrogram images of WAV files.

    Parameters
    ----------
    paths : list of str
    labels : list or np.ndarray, optional
        Anything tensor-like, yielded with the images.
    freq_bins, frames : int, optional
        Image size (defaults: `audio.N_FREQ` x `audio.IMAGE_FRAMES`).
    cache : bool or str
        Cache images after the first pass, in memory (``True``) or in a file.
    peak_db : float, optional
        Each file scaled so its peak is at that many dBFS (`decode_wav`).

    Returns
    -------
    tf.data.Dataset of ``image [freq_bins, frames, 1]`` or ``(image, label)``,
    unbatched.
    """
    import tensorflow as tf

    from soundtransform import audio

    freq_bins = freq_bins or audio.N_FREQ
    frames = frames or audio.IMAGE_FRAMES
    samples = audio.frames_to_samples(frames)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DataError(f"{len(missing)} note files are missing, e.g. {missing[0]}")

    def to_image(path):
        image, _ = audio.waveform_to_image(decode_wav(path, samples, peak_db), freq_bins)
        return tf.ensure_shape(image, [freq_bins, frames, 1])

    ds = tf.data.Dataset.from_tensor_slices(list(paths))
    ds = ds.map(to_image, num_parallel_calls=tf.data.AUTOTUNE)
    if labels is not None:
        ds = tf.data.Dataset.zip((ds, tf.data.Dataset.from_tensor_slices(labels)))
    if cache:
        ds = ds.cache("" if cache is True else cache)
    return ds
