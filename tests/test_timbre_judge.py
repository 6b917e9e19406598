import os

import numpy as np
import pytest

from conftest import ROOT, make_tone
from soundtransform import audio, data, evaluate
from soundtransform.timbre_judge import N_FEATURES, WINDOW_SAMPLES, TimbreJudge, timbre_features

SHIPPED = os.path.join(ROOT, "exported_models", "classifiers", "judge.keras")


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
