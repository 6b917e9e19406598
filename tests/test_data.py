import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from conftest import make_tone
from soundtransform import audio, data
from soundtransform.errors import DataError, ParameterError


def test_note_names_round_trip():
    note = data.parse_note_name("flute_acoustic_002-060-100.wav")
    assert (note.family, note.source, note.instrument, note.pitch, note.velocity) == (
        "flute", "acoustic", 2, 60, 100)
    assert note.note_str == "flute_acoustic_002-060-100"
    assert data.parse_note_name("synth_lead_synthetic_123-048-025").family == "synth_lead"


@pytest.mark.parametrize("bad", ["flute-060-100", "drum_acoustic_001-060-100", "flute_acoustic_1-60-100"])
def test_bad_note_names(bad):
    with pytest.raises(DataError, match="not an NSynth note name"):
        data.parse_note_name(bad)


def test_reader_without_examples_json_matches(dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    for split in data.SPLITS:
        os.remove(copy / f"nsynth-{split}" / "examples.json")
        with_meta = data.read_split(dataset, split)
        from_names = data.read_split(str(copy), split)
        assert [n.note_str for n in with_meta] == [n.note_str for n in from_names]
        assert all(os.path.isfile(n.path) for n in from_names)
    # A split folder itself is accepted as root.
    assert data.read_split(str(copy / "nsynth-test"), "test")


def test_reader_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.read_split(str(tmp_path / "nope"), "train")
    with pytest.raises(ParameterError, match="unknown split"):
        data.read_split(str(tmp_path), "training")
    split = tmp_path / "nsynth-train"
    split.mkdir()
    (split / "examples.json").write_text("{not json")
    with pytest.raises(DataError, match="cannot read"):
        data.read_split(str(tmp_path), "train")
    (split / "examples.json").write_text(json.dumps({"x": {"pitch": 60}}))
    with pytest.raises(DataError, match="malformed"):
        data.read_split(str(tmp_path), "train")
    entry = {"instrument_family_str": "flute", "instrument_source_str": "acoustic", "instrument": 1,
             "pitch": float("inf"), "velocity": 100}
    (split / "examples.json").write_text(json.dumps({"x": entry}))
    with pytest.raises(DataError, match="malformed"):
        data.read_split(str(tmp_path), "train")
    assert data.read_split(str(tmp_path), "valid") == []


def test_select_and_pair(notes):
    flutes = data.select(notes, families=["flute"], pitch_range=(60, 60))
    assert flutes and all(n.family == "flute" and n.pitch == 60 for n in flutes)
    keys = data.select(notes, families=["keyboard"])
    pairs = data.pair_notes(flutes, keys)
    assert pairs
    assert all(s.pitch == t.pitch and s.velocity == t.velocity for s, t in pairs)
    assert all(s.family == "flute" and t.family == "keyboard" for s, t in pairs)
    capped = data.pair_notes(flutes, keys, max_targets=1)
    assert len(capped) == len(flutes)
    with pytest.raises(ParameterError, match="unknown family"):
        data.select(notes, families=["drums"])


def test_load_notes_says_what_matched_nothing(dataset):
    with pytest.raises(DataError, match="families"):
        data.load_notes(dataset, "train", families=["bass"])


def test_image_dataset_matches_audio_module(notes):
    paths = [n.path for n in notes[:3]]
    labels = np.array([n.family_id for n in notes[:3]])
    ds = data.image_dataset(paths, labels, freq_bins=128, frames=64)
    items = list(ds.as_numpy_iterator())
    assert len(items) == 3
    for (image, label), path, expected_label in zip(items, paths, labels):
        assert image.shape == (128, 64, 1) and label == expected_label
        y = audio.fit_length(audio.load(path), audio.frames_to_samples(64))
        expected, _ = audio.waveform_to_image(y, 128)
        np.testing.assert_allclose(image, expected.numpy(), atol=1e-4)
    # Second pass comes from the cache and is identical.
    again = list(ds.as_numpy_iterator())
    np.testing.assert_array_equal(items[0][0], again[0][0])


def test_image_dataset_resamples_other_rates_with_tensorflow_io(tmp_path):
    y = make_tone(440.0, seconds=1.0, sample_rate=44100)
    path = tmp_path / "cd.wav"
    sf.write(path, y, 44100)
    (image,) = list(data.image_dataset([str(path)], frames=32).as_numpy_iterator())
    expected, _ = audio.waveform_to_image(audio.fit_length(audio.load(path), audio.frames_to_samples(32)))
    # tensorflow-io and soxr resample slightly differently; images agree closely.
    assert np.mean(np.abs(image - expected.numpy())) < 0.02


def test_image_dataset_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing"):
        data.image_dataset([str(tmp_path / "gone.wav")])
