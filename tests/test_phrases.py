import json
import os

import librosa
import numpy as np
import pytest

from soundtransform import audio, phrases
from soundtransform.errors import DataError, ParameterError


@pytest.fixture(scope="module")
def phrase_dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("phrases"))
    phrases.render_phrases(root, melodies=2, soundfonts=["TimGM6mb"], families=["flute", "keyboard"],
                           seconds=4.0, progress=False)
    return root


def test_generated_melodies_are_monophonic_seeded_and_in_range():
    a = phrases.generate_melody(np.random.default_rng(3), seconds=8.0)
    b = phrases.generate_melody(np.random.default_rng(3), seconds=8.0)
    assert a == b and len(a) >= 4
    for note, following in zip(a, a[1:]):
        assert note["offset"] <= following["onset"]
    assert all(60 <= n["pitch"] <= 84 and 0 <= n["onset"] < n["offset"] <= 8.0 for n in a)
    assert len({n["offset"] - n["onset"] for n in a}) > 1, "note lengths must vary"


def test_same_melody_for_every_instrument_and_split_by_instrument(phrase_dataset):
    all_phrases = [p for split in ("train", "valid", "test") for p in phrases.read_phrases(phrase_dataset, split)]
    by_melody = {}
    for p in all_phrases:
        by_melody.setdefault(p.melody, set()).add(json.dumps(p.notes, sort_keys=True))
    assert len(by_melody) == 2 and all(len(v) == 1 for v in by_melody.values())
    splits = {}
    for split in ("train", "valid", "test"):
        for p in phrases.read_phrases(phrase_dataset, split):
            splits.setdefault(p.instrument_str, set()).add(split)
    assert all(len(s) == 1 for s in splits.values())


def test_pairs_are_time_aligned(phrase_dataset):
    ps = phrases.read_phrases(phrase_dataset, "train")
    pairs = phrases.pair_phrases([p for p in ps if p.family == "flute"], [p for p in ps if p.family == "keyboard"])
    assert pairs
    for source, target in pairs:
        assert source.melody == target.melody and source.notes == target.notes
        assert len(audio.load(source.path)) == len(audio.load(target.path)) == 64000


def test_keyboard_onsets_and_pitches_match_the_json(phrase_dataset):
    keys = [p for p in phrases.read_phrases(phrase_dataset, "train") if p.family == "keyboard"]
    phrase = keys[0]
    y = audio.load(phrase.path)
    onsets = librosa.onset.onset_detect(y=y, sr=16000, hop_length=128, units="time", backtrack=False)
    expected = [n["onset"] for n in phrase.notes]
    hits = [np.min(np.abs(onsets - t)) < 0.06 for t in expected if t > 0.05]
    assert np.mean(hits) >= 0.7, (expected, onsets)
    pitch_hits = []
    for n in phrase.notes:
        a, b = int(n["onset"] * 16000) + 800, int(n["offset"] * 16000) - 400
        if b - a < 2048:
            continue
        f0, voiced, _ = librosa.pyin(y[a:b], fmin=200, fmax=1200, sr=16000, frame_length=1024)
        f0 = f0[voiced & np.isfinite(f0)]
        if len(f0):
            pitch_hits.append(abs(1200 * np.log2(np.median(f0) / librosa.midi_to_hz(n["pitch"]))) < 50)
    assert pitch_hits and np.mean(pitch_hits) >= 0.8


def test_top_voice_of_a_midi_file(tmp_path):
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for k, root in enumerate([60, 62, 64, 65]):
        for offset in (0, 4, 7):  # a triad: the top voice is root + 7
            piano.notes.append(pretty_midi.Note(90, root + offset, k * 1.0, k * 1.0 + 0.9))
    midi.instruments.append(piano)
    path = tmp_path / "chords.mid"
    midi.write(str(path))
    (melody,) = phrases.top_voice(path, seconds=8.0)
    assert [n["pitch"] for n in melody] == [67, 69, 71, 72]
    with pytest.raises(DataError, match="MIDI"):
        bad = tmp_path / "bad.mid"
        bad.write_text("not midi")
        phrases.top_voice(bad)


def test_bad_arguments(tmp_path):
    with pytest.raises(ParameterError, match="phrase length"):
        phrases.render_phrases(str(tmp_path), seconds=0, progress=False)
    with pytest.raises(ParameterError, match="unknown split"):
        phrases.read_phrases(str(tmp_path), "dev")
