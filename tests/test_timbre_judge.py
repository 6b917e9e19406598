import os

import numpy as np
import pytest

from conftest import ROOT, make_tone
from soundtransform import audio, data, evaluate
from soundtransform.errors import ParameterError
from soundtransform.timbre_judge import (N_FEATURES, SEGMENT_MIN_SAMPLES, WINDOW_SAMPLES, TimbreJudge, note_segments,
                                         segment_features, timbre_features)

SHIPPED = os.path.join(ROOT, "exported_models", "classifiers", "judge.keras")
SR = audio.SAMPLE_RATE


@pytest.mark.parametrize("seconds,windows", [(0.5, 1), (4.0, 1), (9.0, 3)])
def test_features_cover_any_length(seconds, windows):
    features, clip_index = timbre_features([make_tone(seconds=seconds), make_tone(330.0, seconds=1.0)])
    assert features.shape == (windows + 1, N_FEATURES)
    assert np.all(np.isfinite(features))
    assert list(clip_index) == [0] * windows + [1]


def test_features_ignore_gain_but_see_the_envelope():
    tone = make_tone(seconds=4.0, decay=0.3)
    (loud, quiet, fast), _ = timbre_features([tone, 0.1 * tone, make_tone(seconds=4.0, decay=3.0)])
    np.testing.assert_allclose(loud, quiet, atol=1e-2)  # dB re the window's own peak
    assert np.abs(loud - fast).max() > 5.0  # a faster decay changes the envelope points


def test_features_do_not_hear_below_the_floor(monkeypatch):
    """A quiet tail quantised two ways (rounded; rounded toward minus infinity, as libsndfile does) is one verdict."""
    from soundtransform import timbre_judge

    tone = make_tone(seconds=4.0, decay=3.0)  # its tail falls under one 16-bit step
    rounded = np.rint(tone * 32768) / 32768
    floored = np.floor(tone * 32768) / 32768
    (a, b), _ = timbre_features([rounded, floored])
    np.testing.assert_allclose(a, b, atol=1e-3)
    monkeypatch.setattr(timbre_judge, "FLOOR_DB", -300.0)  # no floor: the last bit moves the features
    (a, b), _ = timbre_features([rounded, floored])
    assert np.abs(a - b).max() > 1.0


def test_fit_learns_families_and_reloads(notes, tmp_path):
    waveforms = [audio.load(n.path) for n in notes]
    labels = np.array([data.FAMILIES.index(n.family) for n in notes])
    features, _ = timbre_features(waveforms)
    judge = TimbreJudge(l2=1e-3)
    history = judge.fit_features(features, labels, epochs=60, batch_size=8)
    assert history.history["loss"][-1] < history.history["loss"][0]
    probs = judge.classify(waveforms)
    assert probs.shape == (len(notes), len(data.FAMILIES))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(np.argmax(probs, axis=1) == labels) == 1.0  # a logistic regression fits 24 notes
    path = str(tmp_path / "judge.keras")
    judge.save(path)
    again = evaluate.load_judge(path)
    assert isinstance(again, TimbreJudge) and again.l2 == judge.l2
    np.testing.assert_allclose(evaluate.classify_waveforms(waveforms, again), probs, atol=1e-5)
    embedded = evaluate.embed_waveforms(waveforms[:3], again)
    assert embedded.shape == (3, N_FEATURES)


def test_shipped_judge_hears_rendered_families(notes):
    """The shipped judge on the tests' rendered notes (mostly instruments it never heard)."""
    assert os.path.isfile(SHIPPED)
    waveforms = [audio.load(n.path) for n in notes]
    predicted = np.argmax(evaluate.classify_waveforms(waveforms), axis=1)
    labels = np.array([data.FAMILIES.index(n.family) for n in notes])
    assert np.mean(predicted == labels) >= 0.5  # chance is 1/11
    padded = evaluate.classify_waveforms([np.zeros(WINDOW_SAMPLES // 4, np.float32)])
    assert padded.shape == (1, len(data.FAMILIES)) and np.all(np.isfinite(padded))


def test_note_segments_run_from_onset_to_onset_within_the_window():
    notes = [{"onset": 0.0}, {"onset": 0.5}, {"onset": 0.6}, {"onset": 1.5}]
    # The 0.1-s note at 0.5 s is too short to judge; the last note lasts to the end of the 3-s clip.
    assert note_segments(3 * SR, notes) == [(0, SR // 2), (int(0.6 * SR), int(1.5 * SR)), (int(1.5 * SR), 3 * SR)]
    # Clipped to a window of 1-2 s: the tail of the note from 0.6 s, then the note from 1.5 s.
    assert note_segments(3 * SR, notes, SR, 2 * SR) == [(SR, int(1.5 * SR)), (int(1.5 * SR), 2 * SR)]
    assert note_segments(3 * SR, [{"onset": 2.9}]) == []  # 0.1 s before the end
    assert SEGMENT_MIN_SAMPLES == int(0.2 * SR)


def test_segment_features_of_a_whole_note_equal_its_window_features():
    tone = make_tone(seconds=4.0, decay=0.5)
    np.testing.assert_allclose(segment_features([tone])[0], timbre_features([tone])[0][0], rtol=1e-5, atol=1e-4)
    # A short note is not padded: its envelope spans the note, unlike the same note padded to 4 s.
    short = make_tone(seconds=0.5, decay=4.0)
    assert np.abs(segment_features([short])[0] - timbre_features([short])[0][0]).max() > 5.0
    assert np.all(np.isfinite(segment_features([short[:100]])))  # shorter than a segment: padded, still finite


def _judge_of(notes, unit):
    waveforms = [audio.load(n.path) for n in notes]
    labels = np.array([data.FAMILIES.index(n.family) for n in notes])
    judge = TimbreJudge(l2=1e-3, unit=unit)
    judge.fit_features(segment_features(waveforms), labels, epochs=40, batch_size=8)
    return judge, waveforms, labels


def test_note_judge_averages_its_notes_by_length(notes, tmp_path):
    judge, waveforms, labels = _judge_of(notes, "note")
    flute, keyboard = (next(w for w, n in zip(waveforms, notes) if n.family == f) for f in ("flute", "keyboard"))
    # A 4-s phrase: 1.5 s of the flute note, then 2.5 s of the keyboard note.
    phrase = np.concatenate([flute[:int(1.5 * SR)], keyboard[:int(2.5 * SR)]])
    melody = [{"onset": 0.0}, {"onset": 1.5}]
    probs = judge.classify_windows(phrase, melody, [0, 2 * SR], 2 * SR)
    parts = judge.probabilities(segment_features([phrase[:int(1.5 * SR)], phrase[int(1.5 * SR):2 * SR],
                                                  phrase[2 * SR:]]))
    np.testing.assert_allclose(probs[0], (1.5 * parts[0] + 0.5 * parts[1]) / 2.0, rtol=1e-4)
    np.testing.assert_allclose(probs[1], parts[2], rtol=1e-4)
    # Without notes, or as a window judge, the windows are judged whole.
    np.testing.assert_allclose(judge.classify_windows(phrase, None, [0], 2 * SR), judge.classify([phrase[:2 * SR]]),
                               rtol=1e-5)
    # A window with no note long enough is judged whole too.
    np.testing.assert_allclose(judge.classify_windows(phrase, [{"onset": 3.95}], [0], 2 * SR),
                               judge.classify([phrase[:2 * SR]]), rtol=1e-5)
    path = str(tmp_path / "phrase_judge.keras")
    judge.save(path)
    assert evaluate.load_judge(path).unit == "note"
    with pytest.raises(ParameterError, match="unknown judge unit 'bar'"):
        TimbreJudge(unit="bar")


def test_window_consistency_judges_note_by_note_only_with_notes(notes):
    judge, waveforms, labels = _judge_of(notes, "note")
    keyboards = [w[:3 * SR] for w, n in zip(waveforms, notes) if n.family == "keyboard"]
    melodies = [[{"onset": 0.0}]] * len(keyboards)
    by_note = evaluate.window_consistency(keyboards, "keyboard", judge, 2.0, note_lists=melodies)
    whole = evaluate.window_consistency(keyboards, "keyboard", judge, 2.0)
    assert by_note["windows"] == whole["windows"] == 2 * len(keyboards)
    # Judged note by note the second window is the note's 1 s of decay; whole, it is padded to 4 s.
    starts = [0, SR]
    expected = np.concatenate([judge.classify_windows(y, m, starts, 2 * SR) for y, m in zip(keyboards, melodies)])
    assert by_note["as_target"] == pytest.approx(np.mean(np.argmax(expected, axis=1) == data.FAMILIES.index("keyboard")))
    whole_probs = judge.classify([y[s:s + 2 * SR] for y in keyboards for s in starts])
    # Each waveform's verdicts, window by window, in order: what the shares count.
    for result, probs in ((by_note, expected), (whole, whole_probs)):
        assert result["predicted"] == [[data.FAMILIES[i] for i in np.argmax(probs[2 * k:2 * k + 2], axis=1)]
                                       for k in range(len(keyboards))]
    assert not np.allclose(expected, whole_probs, atol=1e-3)  # the note-by-note path gives other probabilities
    assert evaluate.phrase_window_seconds(judge) == 2.0
    assert evaluate.phrase_window_seconds(evaluate.load_judge()) == 4.0  # the note judge takes 4-s windows whole
