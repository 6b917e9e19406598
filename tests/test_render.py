import json
import os

import librosa
import numpy as np
import pytest

from conftest import TEST_FAMILIES
from soundtransform import audio, data, render
from soundtransform.errors import DataError, ParameterError


def test_layout_and_examples_json(dataset):
    for split in data.SPLITS:
        folder = os.path.join(dataset, f"nsynth-{split}")
        with open(os.path.join(folder, "examples.json")) as f:
            examples = json.load(f)
        files = sorted(os.listdir(os.path.join(folder, "audio")))
        assert sorted(k + ".wav" for k in examples) == files
        for key, entry in examples.items():
            assert entry["note_str"] == key
            assert data.FAMILIES[entry["instrument_family"]] == entry["instrument_family_str"]


def test_splits_hold_out_whole_instruments(notes):
    by_split = {}
    for n in notes:
        by_split.setdefault(n.instrument_str, set()).add(os.path.basename(os.path.dirname(os.path.dirname(n.path))))
    assert all(len(s) == 1 for s in by_split.values())
    # Every test family has instruments in each split.
    for family in TEST_FAMILIES:
        splits = {next(iter(s)) for name, s in by_split.items() if name.startswith(family)}
        assert splits == {"nsynth-train", "nsynth-valid", "nsynth-test"}


def test_both_soundfonts_give_instruments(notes):
    numbers = {n.instrument for n in notes}
    assert any(i < 128 for i in numbers) and any(128 <= i < 256 for i in numbers)


def test_notes_are_4_seconds_at_16k(notes):
    import soundfile as sf

    info = sf.info(notes[0].path)
    assert info.samplerate == 16000 and info.frames == 64000 and info.channels == 1


def test_rendered_notes_carry_their_pitch(notes):
    hits = []
    sample = sorted(notes, key=lambda n: n.note_str)[::3]  # every family, SoundFont and pitch; pYIN is slow
    assert {n.family for n in sample} == set(TEST_FAMILIES) and {n.pitch for n in sample} == {60, 67}
    for note in sample:
        y = audio.load(note.path)[4000:40000]  # the held part, past the attack
        f0, voiced, _ = librosa.pyin(y, fmin=60, fmax=2000, sr=16000, frame_length=2048)
        f0 = f0[voiced & np.isfinite(f0)]
        if len(f0) == 0:
            hits.append(False)
            continue
        cents = 1200 * np.log2(np.median(f0) / librosa.midi_to_hz(note.pitch))
        hits.append(abs(cents) < 50)
    assert np.mean(hits) >= 0.9, f"{np.mean(hits):.2f} of notes within 50 cents"


def test_render_resumes_without_rewriting(dataset):
    note = data.read_split(dataset, "train")[0]
    mtime = os.path.getmtime(note.path)
    report = render.render_dataset(dataset, families=TEST_FAMILIES, pitches=(60, 67), velocities=(100,), progress=False)
    assert os.path.getmtime(note.path) == mtime
    assert report["notes"] == sum(len(data.read_split(dataset, s)) for s in data.SPLITS)


def test_gm_map_covers_eight_plus_families():
    assert len({family for family, _ in render.GM_PROGRAMS.values()}) >= 8
    assert render.GM_PROGRAMS[73] == ("flute", "acoustic")
    assert render.GM_PROGRAMS[0] == ("keyboard", "acoustic")


def test_bad_render_arguments(tmp_path):
    with pytest.raises(ParameterError, match="unknown SoundFont"):
        render.render_dataset(str(tmp_path), soundfonts=["NoSuchFont"], progress=False)
    with pytest.raises(ParameterError, match="unknown family"):
        render.render_dataset(str(tmp_path), families=["drums"], progress=False)
    with pytest.raises(ParameterError, match="outside MIDI"):
        render.render_dataset(str(tmp_path), families=["flute"], pitches=[200], progress=False)
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(b"RIFF0000nope")
    with pytest.raises(DataError, match="cannot load"):
        render.render_dataset(str(tmp_path), soundfonts=[str(broken)], families=["flute"], pitches=[60], progress=False)
