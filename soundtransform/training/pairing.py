"""Choosing what a translation method trains on: families, instruments, pairs, and their image datasets.

Every translation method takes its source and target sounds from an
NSynth-layout dataset (`data`) and, with ``train_on`` (`presets.TRAIN_ON`),
from rendered phrases (`phrases`): single notes, consecutive ``frames``-long
windows of phrases, or both, sampled in proportion.  Paired methods (the
cgan, Faster with same-pitch targets) pair notes of the same pitch and
velocity and phrases of the same melody; CycleGAN takes both sides unpaired.
"""

import collections

import tensorflow as tf

from soundtransform import data, phrases
from soundtransform.errors import DataError, MissingFamilies, ParameterError, check_choice


def check_families(method, source, target):
    """Both families given, known and different; `MissingFamilies` or `ParameterError` otherwise."""
    if not source or not target:
        raise MissingFamilies(method)
    for family in (source, target):
        check_choice("family", family, data.FAMILIES)
    if source == target:
        raise ParameterError(f"source and target are both {source!r}; choose two different families")


def train_on(config):
    """What a method trains on: ``config["train_on"]``, one of `presets.TRAIN_ON` (default ``"notes"``)."""
    return config.get("train_on", "notes")


def _choose_instruments(counts, family, split, instruments, what="notes"):
    """The instrument names that ``instruments`` picks from ``counts`` (name -> clips); see `family_notes`."""
    if instruments == "one":
        return [min(counts, key=lambda name: (-counts[name], name))]
    if isinstance(instruments, (list, tuple)):
        wanted = list(instruments)
    else:
        wanted = [s.strip() for s in str(instruments).split(",") if s.strip()]
    unknown = [w for w in wanted if w not in counts]
    if unknown or not wanted:
        raise DataError(
            f"no {family} instrument {', '.join(unknown) or repr(instruments)} with {what} in split {split!r}; "
            f"choose 'all', 'one' or from: {', '.join(sorted(counts))}"
        )
    return wanted


def _counts(sounds):
    counts = collections.Counter(s.instrument_str for s in sounds)
    return dict(counts)


def family_notes(root, split, family, instruments="all"):
    """The notes of one family in one split, optionally of some instruments only.

    Parameters
    ----------
    instruments : str
        ``"all"``; ``"one"``: the split's instrument with the most notes (the
        first by name on a tie), so every target note comes from one consistent
        instrument; or comma-separated ``instrument_str`` values, e.g.
        ``"keyboard_acoustic_128"``.

    Raises
    ------
    DataError
        No notes of ``family`` in the split, or none of the named instruments.
    """
    notes = data.select(data.read_split(root, split), families=[family])
    if not notes:
        raise DataError(f"no {family} notes in split {split!r} of {root}")
    if instruments in (None, "all"):
        return notes
    return data.select(notes, instruments=_choose_instruments(_counts(notes), family, split, instruments))


def family_phrases(root, split, family, instruments="all"):
    """The phrases (`phrases.read_phrases`) of one family in one split, optionally of some instruments only.

    Parameters
    ----------
    instruments : str or list of str
        As for `family_notes`; a list names the instruments exactly (used to
        take the phrases of the instrument chosen for the notes).

    Raises
    ------
    DataError
        No phrases of ``family`` in the split (render them), or none of the
        named instruments.
    """
    found = phrases.read_phrases(root, split, families=[family])
    if not found:
        raise DataError(f"no {family} phrases in split {split!r} of {root}; render them with "
                        f"`soundtransform data render --out {root} --kind phrases`, or use train_on=notes")
    if instruments in (None, "all"):
        return found
    wanted = set(_choose_instruments(_counts(found), family, split, instruments, what="phrases"))
    return [p for p in found if p.instrument_str in wanted]


def split_sounds(find, root, split, family, instruments="all"):
    """``find(root, split, family, instruments)`` (`family_notes`, `family_phrases`); ``[]`` for a valid split
    without them (their DataError), the train split's DataError raised."""
    try:
        return find(root, split, family, instruments)
    except DataError:
        if split == "train":
            raise
        return []


def target_sounds(root, target, config):
    """The train split's target notes and phrases of ``config["target_instruments"]``, as ``train_on`` asks.

    Phrases are those of the instrument chosen for the notes, so both kinds
    teach the same target.  Returns ``(notes, phrases)``.
    """
    use = train_on(config)
    notes = family_notes(root, "train", target, config["target_instruments"]) if use != "phrases" else []
    found = []
    if use != "notes":
        chosen = sorted({t.instrument_str for t in notes}) if notes else config["target_instruments"]
        found = family_phrases(root, "train", target, chosen)
    return notes, found


SplitPairs = collections.namedtuple("SplitPairs", "notes unpaired_notes phrases")


def split_pairs(root, split, source, target, targets, phrase_targets, use, instruments="all", max_targets=None,
                seed=0):
    """One split's ``source`` sounds paired with ``target`` sounds: what pix2pix and Faster's pitch targets train on.

    Notes are paired with ``targets`` of the same pitch and velocity
    (`data.pair_notes`, at most ``max_targets`` targets each), phrases with
    ``phrase_targets`` of the same melody (`phrases.pair_phrases`); notes
    unless ``use`` is ``"phrases"``, phrases unless it is ``"notes"``.
    ``instruments`` chooses the source instruments (`family_notes`).  A valid
    split without source sounds has no pairs.

    Returns
    -------
    SplitPairs
        ``notes``: list of (source, target) `data.Note` pairs; ``unpaired_notes``:
        source notes without a target of their pitch and velocity; ``phrases``:
        list of (source, target) `phrases.Phrase` pairs.

    Raises
    ------
    DataError
        The train split has no source sounds, or no pairs of a kind ``use`` asks for.
    """
    def sources(find):
        return split_sounds(find, root, split, source, instruments)

    note_pairs, unpaired, phrase_pairs = [], 0, []
    if use != "phrases":
        notes = sources(family_notes)
        note_pairs = data.pair_notes(notes, targets, max_targets=max_targets, seed=seed)
        unpaired = len(notes) - len({id(s) for s, _ in note_pairs})
        if not note_pairs and split == "train":
            raise DataError(f"no {source}/{target} pairs with the same pitch and velocity in split 'train' of {root}")
    if use != "notes":
        phrase_pairs = phrases.pair_phrases(sources(family_phrases), phrase_targets)
        if not phrase_pairs and split == "train":
            raise DataError(f"no {source}/{target} phrases of the same melody in split 'train' of {root}")
    return SplitPairs(note_pairs, unpaired, phrase_pairs)


def pair_dataset(pairs, shape):
    """``(source image, target image)`` of note pairs, each ``[freq, frames, 1]`` for ``shape = (freq, frames)``."""
    sources = data.image_dataset([s.path for s, _ in pairs], freq_bins=shape[0], frames=shape[1])
    targets = data.image_dataset([t.path for _, t in pairs], freq_bins=shape[0], frames=shape[1])
    return tf.data.Dataset.zip((sources, targets))


def phrase_pair_dataset(pairs, shape):
    """Aligned windows of paired phrases: ``(dataset of (source, target), windows before the silence filter)``.

    Both sides are read at the same length, so window ``k`` of a source and of
    its target cover the same frames of the same melody; windows whose source
    is silent are left out.
    """
    samples = phrases.phrase_samples([p.path for pair in pairs for p in pair])
    sources, starts = phrases.window_dataset([s.path for s, _ in pairs], *shape, samples=samples)
    targets, _ = phrases.window_dataset([t.path for _, t in pairs], *shape, samples=samples)
    ds = tf.data.Dataset.zip((sources, targets)).filter(lambda s, t: phrases.is_sounding(s)).cache()
    return ds, len(pairs) * len(starts)


def phrase_windows(found, shape):
    """``(dataset of sounding windows, windows before the silence filter)`` of phrases, one after another."""
    windows, starts = phrases.window_dataset([p.path for p in found], *shape)
    return windows.filter(phrases.is_sounding).cache(), len(found) * len(starts)


def mix(parts, seed):
    """One dataset from ``[(dataset, size), ...]``: the only one, or all sampled in proportion to size.

    Returns None for no parts.  An epoch still sees every element of every part.
    """
    parts = [(ds, n) for ds, n in parts if ds is not None and n]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0][0]
    total = float(sum(n for _, n in parts))
    return tf.data.Dataset.sample_from_datasets([ds for ds, _ in parts], weights=[n / total for _, n in parts],
                                                seed=seed, stop_on_empty_dataset=False)


def instrument_names(sounds):
    """The sorted instrument names of notes or phrases."""
    return sorted({s.instrument_str for s in sounds})
