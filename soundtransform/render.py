"""Render an NSynth-layout dataset of real sampled instruments from SoundFonts.

Each General MIDI program of a SoundFont is one instrument, mapped to an NSynth
family (GM groups programs by family in blocks of eight).  A note is held for
3 s and released for 1 s at 16 kHz, with reverb and chorus off, exactly like an
NSynth note.  Instruments, not notes, are split into train/valid/test, so the
test instruments are never heard in training.

Files are named as NSynth names them, ``{family}_{source}_{NNN}-{pitch}-{velocity}.wav``
with ``NNN = soundfont_index * 128 + program``, and each split gets an NSynth
``examples.json``: a real NSynth download reads the same way.
"""

import contextlib
import importlib.util
import json
import os
import sys
import zlib

import numpy as np

from soundtransform import audio
from soundtransform.data import FAMILIES, SOURCES, SPLITS, Note
from soundtransform.errors import DataError, ParameterError
from soundtransform.fileio import write_text

HELD_SECONDS = 3.0
RELEASE_SECONDS = 1.0


def _pretty_midi_soundfont():
    """pretty_midi's bundled SoundFont, found without importing pretty_midi."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a declared dependency
        return None
    return os.path.join(spec.submodule_search_locations[0], "TimGM6mb.sf2")


def import_synth_module(name):
    """Import ``fluidsynth`` or ``pretty_midi`` (which imports fluidsynth).

    pyfluidsynth prints where it found the library to stdout when the
    environment has ``CI`` set; that line would corrupt a command's output,
    so it goes to stderr.
    """
    with contextlib.redirect_stdout(sys.stderr):
        return importlib.import_module(name)


# Fixed indices keep instrument ids stable whichever SoundFonts a run renders.
KNOWN_SOUNDFONTS = {
    "FluidR3_GM": (0, "/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "TimGM6mb": (1, _pretty_midi_soundfont()),
}
DEFAULT_SOUNDFONTS = ("FluidR3_GM", "TimGM6mb")

# GM program -> (NSynth family, NSynth source).  Programs left out (timpani,
# orchestra hit, pads, effects, ethnic, percussive, sound effects) fit no family.
_GM_BLOCKS = {
    0: ("keyboard", ["acoustic"] * 4 + ["electronic"] * 2 + ["acoustic", "electronic"]),
    8: ("mallet", ["acoustic"] * 8),
    16: ("organ", ["electronic"] * 3 + ["acoustic"] * 5),
    24: ("guitar", ["acoustic"] * 2 + ["electronic"] * 6),
    32: ("bass", ["acoustic"] + ["electronic"] * 5 + ["synthetic"] * 2),
    40: ("string", ["acoustic"] * 7),
    48: ("string", ["acoustic"] * 2 + ["synthetic"] * 2),
    52: ("vocal", ["acoustic"] * 2 + ["synthetic"]),
    56: ("brass", ["acoustic"] * 6 + ["synthetic"] * 2),
    64: ("reed", ["acoustic"] * 8),
    72: ("flute", ["acoustic"] * 8),
    80: ("synth_lead", ["synthetic"] * 8),
}
GM_PROGRAMS = {
    start + i: (family, source)
    for start, (family, sources) in _GM_BLOCKS.items()
    for i, source in enumerate(sources)
}


def resolve_soundfont(name_or_path):
    """Return ``(index, path)`` for a known SoundFont name or an .sf2 path."""
    if name_or_path in KNOWN_SOUNDFONTS:
        index, path = KNOWN_SOUNDFONTS[name_or_path]
        if path is None or not os.path.isfile(path):
            raise DataError(
                f"SoundFont {name_or_path} is not installed (expected {path}); "
                "install Debian's fluid-soundfont-gm or pretty_midi"
            )
        return index, path
    if os.path.isfile(name_or_path) and name_or_path.lower().endswith((".sf2", ".sf3")):
        return None, name_or_path
    raise ParameterError(
        f"unknown SoundFont {name_or_path!r}; use one of: "
        f"{', '.join(KNOWN_SOUNDFONTS)}, or the path of an .sf2 file"
    )


def instruments(soundfonts=DEFAULT_SOUNDFONTS, families=None):
    """List the instruments to render.

    Returns
    -------
    list of dict with keys ``soundfont``, ``path``, ``program``, ``family``,
    ``source``, ``instrument`` (NNN) and ``instrument_str``.
    """
    families = _check_families(families)
    out = []
    next_index = max(i for i, _ in KNOWN_SOUNDFONTS.values()) + 1
    for name in soundfonts:
        index, path = resolve_soundfont(name)
        if index is None:
            index, next_index = next_index, next_index + 1
        for program, (family, source) in sorted(GM_PROGRAMS.items()):
            if family not in families:
                continue
            number = index * 128 + program
            out.append(
                dict(
                    soundfont=os.path.splitext(os.path.basename(path))[0],
                    path=path,
                    program=program,
                    family=family,
                    source=source,
                    instrument=number,
                    instrument_str=f"{family}_{source}_{number:03d}",
                )
            )
    return out


def _check_families(families):
    if families is None:
        return list(FAMILIES)
    for family in families:
        if family not in FAMILIES:
            raise ParameterError(
                f"unknown family {family!r}; choose from: {', '.join(FAMILIES)}"
            )
    return list(families)


def split_instruments(items, valid_fraction=0.15, test_fraction=0.2, seed=0):
    """Assign each instrument to a split, per family, deterministically.

    Every family with at least three instruments gets at least one in each of
    valid and test; the rest train.  Returns ``{instrument_str: split}``.
    """
    by_family = {}
    for item in items:
        by_family.setdefault(item["family"], []).append(item["instrument_str"])
    assignment = {}
    for family, names in sorted(by_family.items()):
        names = sorted(names)
        rng = np.random.default_rng([seed, zlib.crc32(family.encode())])
        rng.shuffle(names)
        n = len(names)
        n_test = max(1, round(n * test_fraction)) if n >= 3 else 0
        n_valid = max(1, round(n * valid_fraction)) if n >= 3 else 0
        for i, name in enumerate(names):
            if i < n_test:
                assignment[name] = "test"
            elif i < n_test + n_valid:
                assignment[name] = "valid"
            else:
                assignment[name] = "train"
    return assignment


class Renderer:
    """Renders single notes of one SoundFont program with FluidSynth.

    Parameters
    ----------
    path : str
        The .sf2 file.
    sample_rate : int, Hz
    """

    def __init__(self, path, sample_rate=audio.SAMPLE_RATE):
        try:
            fluidsynth = import_synth_module("fluidsynth")
        except (ImportError, OSError) as exc:
            raise DataError(
                f"FluidSynth is not available ({exc}); install Debian's libfluidsynth3 "
                "and PyPI's pyfluidsynth"
            ) from None
        self.sample_rate = sample_rate
        self.synth = fluidsynth.Synth(
            gain=0.5,
            samplerate=float(sample_rate),
            **{"synth.reverb.active": 0, "synth.chorus.active": 0},
        )
        self.sfid = self.synth.sfload(path)
        if self.sfid < 0:
            raise DataError(f"FluidSynth cannot load SoundFont {path}")

    def note(self, program, pitch, velocity, held=HELD_SECONDS, release=RELEASE_SECONDS):
        """Render one note, ``np.ndarray [shape=(samples,)]`` float32 mono."""
        synth = self.synth
        synth.program_select(0, self.sfid, 0, program)
        synth.noteon(0, pitch, velocity)
        on = synth.get_samples(int(held * self.sample_rate))
        synth.noteoff(0, pitch)
        off = synth.get_samples(int(release * self.sample_rate))
        # Cut what still rings so it cannot leak into the next note.
        synth.all_sounds_off(0)
        synth.get_samples(1024)
        stereo = np.concatenate([on, off]).reshape(-1, 2).astype(np.float32) / 32768.0
        return stereo.mean(axis=1)

    def melody(self, program, notes, seconds):
        """Render a monophonic line.

        Parameters
        ----------
        program : int, GM program
        notes : list of dict with ``onset``, ``offset`` (s), ``pitch``, ``velocity``
        seconds : float
            Output length; notes still sounding then are cut.

        Returns
        -------
        np.ndarray [shape=(round(seconds * sample_rate),)], float32 mono
        """
        synth = self.synth
        synth.program_select(0, self.sfid, 0, program)
        events = sorted(
            [(n["onset"], 1, n["pitch"], n["velocity"]) for n in notes]
            + [(n["offset"], 0, n["pitch"], 0) for n in notes]
        )  # at equal times note-offs (0) come before note-ons (1): legato works
        total = int(round(seconds * self.sample_rate))
        chunks, done = [], 0
        for time, kind, pitch, velocity in events:
            at = min(int(round(time * self.sample_rate)), total)
            if at > done:
                chunks.append(synth.get_samples(at - done))
                done = at
            if kind:
                synth.noteon(0, pitch, velocity)
            else:
                synth.noteoff(0, pitch)
        if total > done:
            chunks.append(synth.get_samples(total - done))
        synth.all_sounds_off(0)
        synth.get_samples(1024)
        stereo = np.concatenate(chunks).reshape(-1, 2).astype(np.float32) / 32768.0
        return stereo.mean(axis=1)

    def close(self):
        self.synth.delete()


def render_dataset(
    out_dir,
    soundfonts=DEFAULT_SOUNDFONTS,
    families=None,
    pitches=range(48, 85),
    velocities=(50, 100),
    valid_fraction=0.15,
    test_fraction=0.2,
    seed=0,
    progress=True,
):
    """Render an NSynth-layout dataset into ``out_dir``.

    Writes ``out_dir/nsynth-{train,valid,test}/audio/*.wav`` and an
    ``examples.json`` per split.  Notes already on disk are kept (so an
    interrupted render resumes); every file is written atomically.  Notes that
    a SoundFont leaves silent (pitch outside the sample's range) are skipped.

    Returns
    -------
    dict with ``notes`` (written or kept), ``skipped_silent``, ``seconds`` and
    ``per_split`` counts.
    """
    import time

    from tqdm import tqdm

    pitches = [int(p) for p in pitches]
    velocities = [int(v) for v in velocities]
    for p in pitches:
        if not 0 <= p <= 127:
            raise ParameterError(f"pitch {p} is outside MIDI's 0..127")
    for v in velocities:
        if not 1 <= v <= 127:
            raise ParameterError(f"velocity {v} is outside MIDI's 1..127")
    items = instruments(soundfonts, families)
    if not items:
        raise ParameterError("no instruments to render")
    split_of = split_instruments(items, valid_fraction, test_fraction, seed)
    os.makedirs(out_dir, exist_ok=True)
    for split in SPLITS:
        os.makedirs(os.path.join(out_dir, f"nsynth-{split}", "audio"), exist_ok=True)

    examples = {split: {} for split in SPLITS}
    skipped = 0
    rendered_seconds = 0.0
    start = time.perf_counter()
    total = len(items) * len(pitches) * len(velocities)
    bar = tqdm(total=total, desc="render", unit="note", disable=not progress)
    renderers = {}
    try:
        for item in items:
            if item["path"] not in renderers:
                renderers[item["path"]] = Renderer(item["path"])
            renderer = renderers[item["path"]]
            split = split_of[item["instrument_str"]]
            for pitch in pitches:
                for velocity in velocities:
                    bar.update(1)
                    note = Note(
                        family=item["family"],
                        source=item["source"],
                        instrument=item["instrument"],
                        pitch=pitch,
                        velocity=velocity,
                    )
                    path = os.path.join(out_dir, f"nsynth-{split}", "audio", note.note_str + ".wav")
                    if not os.path.exists(path):
                        y = renderer.note(item["program"], pitch, velocity)
                        rendered_seconds += len(y) / audio.SAMPLE_RATE
                        if audio.peak_db(y) < -60.0:
                            skipped += 1
                            continue
                        audio.save(path, y)
                    examples[split][note.note_str] = note.to_example(len(examples[split]))
    finally:
        bar.close()
        for r in renderers.values():
            r.close()
    for split in SPLITS:
        write_text(
            os.path.join(out_dir, f"nsynth-{split}", "examples.json"),
            json.dumps(examples[split], indent=1),
        )
    elapsed = time.perf_counter() - start
    return dict(
        notes=sum(len(e) for e in examples.values()),
        skipped_silent=skipped,
        seconds=elapsed,
        realtime_factor=rendered_seconds / elapsed if elapsed > 0 else float("inf"),
        per_split={split: len(examples[split]) for split in SPLITS},
    )


__all__ = [
    "GM_PROGRAMS",
    "KNOWN_SOUNDFONTS",
    "Renderer",
    "instruments",
    "render_dataset",
    "resolve_soundfont",
    "split_instruments",
    "FAMILIES",
    "SOURCES",
]
