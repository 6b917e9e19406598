import json

import numpy as np
import pytest

from conftest import make_tone
from soundtransform import audio
from soundtransform.errors import ParameterError
from soundtransform.evaluate import dynamics, judge_validation, melodies, naturalness, recording
from soundtransform.timbre_judge import FEATURE_SETS, TimbreJudge, timbre_features

SR = audio.SAMPLE_RATE


def click_train(onsets, seconds=2.0):
    """Short decaying tones starting at ``onsets`` (s): an unmistakable onset each."""
    y = np.zeros(int(seconds * SR), np.float32)
    burst = make_tone(660.0, seconds=0.25, decay=20.0)
    for t in onsets:
        a = int(t * SR)
        y[a:a + burst.size] += burst[:y.size - a]
    return y


def test_onset_f1_is_one_on_time_and_zero_80_ms_late():
    onsets = [0.3, 0.7, 1.1, 1.5]
    y = click_train(onsets)
    on_time = melodies.onset_f1([y], [[{"onset": t} for t in onsets]])
    late = melodies.onset_f1([y], [[{"onset": t + 0.08} for t in onsets]])
    assert on_time["notes"] == 4 and on_time["f1"] == pytest.approx(1.0)
    assert late["f1"] == 0.0 and late["matched"] == 0


def test_onsets_are_matched_one_to_one():
    assert melodies.match_onsets([1.0, 1.02], [1.01]) == [(0, 0)]  # one detection cannot match two notes
    assert melodies.match_onsets([1.0, 1.06], [1.04, 1.1]) == [(0, 0), (1, 1)]  # greedy nearest would pair 1.04 twice
    assert melodies.match_onsets([1.0], [1.051]) == []


def test_frechet_distance_is_zero_for_a_set_and_grows_with_a_shift(rng):
    a = rng.standard_normal((200, 16))
    assert naturalness.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifts = [naturalness.frechet_distance(a, a + d) for d in (0.5, 1.0, 2.0)]
    np.testing.assert_allclose(shifts, [16 * d ** 2 for d in (0.5, 1.0, 2.0)], rtol=1e-6)  # only the means moved
    assert naturalness.frechet_distance(a, 3.0 * a) > naturalness.frechet_distance(a, 1.5 * a) > 0.1
    with pytest.raises(ParameterError):
        naturalness.frechet_distance(a, a[:, :3])


def test_frechet_naturalness_places_generated_notes_beside_the_instruments(rng):
    natural = np.concatenate([rng.standard_normal((30, 8)) + 0.1 * k for k in range(3)])
    instruments = np.repeat(["a", "b", "c"], 30)
    close = naturalness.frechet_naturalness(rng.standard_normal((40, 8)), natural, instruments, draws=3)
    far = naturalness.frechet_naturalness(rng.standard_normal((40, 8)) + 2.0, natural, instruments, draws=3)
    assert set(close["instruments"]) == {"a", "b", "c"}
    assert close["min"] <= close["median"] <= close["max"]
    assert far["generated_at_instrument_size"] > far["max"] > 0  # a shifted set lies outside the natural range
    assert close["generated_at_instrument_size"] < far["generated_at_instrument_size"]


def test_attack_and_decay_of_a_synthetic_envelope():
    t = np.arange(3 * SR) / SR
    tone = np.sin(2 * np.pi * 440.0 * t)
    decaying = tone * 10.0 ** (-20.0 * t / 20.0)  # 20 dB/s from the start
    attack, fall = dynamics.attack_decay(decaying)
    assert attack < 20.0
    assert fall == pytest.approx(20.0 * 2.5, abs=1.5)  # the sixths' centres lie 5/6 of 3 s apart
    swelling = tone * np.minimum(t / 0.4, 1.0) * 10.0 ** (-2.0 * t / 20.0)  # 400 ms attack, slow decay
    attack, fall = dynamics.attack_decay(swelling)
    assert attack == pytest.approx(400.0, abs=20.0)
    summary = dynamics.note_dynamics([decaying, swelling])
    assert summary["notes"] == 2 and summary["attack_ms"]["p25"] <= summary["attack_ms"]["p75"]


def test_recording_conditions_keep_length_and_set_the_noise_floor(rng):
    y = make_tone(seconds=2.0, decay=0.5)
    noisy = recording.add_noise_floor(y, rng, db_below_peak=35.0, colour="pink")
    rms = np.sqrt(np.mean((noisy - y) ** 2))
    assert 20 * np.log10(np.abs(y).max() / rms) == pytest.approx(35.0, abs=0.1)
    h = recording.room_impulse_response(0.4, rng)
    energy = np.convolve(h ** 2, np.ones(400), "valid")
    drop = 10 * np.log10(energy[int(0.2 * SR)] / energy[:200].max())  # halfway through RT60: about -30 dB
    assert -36.0 < drop < -24.0
    for step in (recording.add_room, recording.random_eq, recording.microphone, recording.augment, recording.degrade):
        out = step(y, rng)
        assert out.shape == y.shape and np.all(np.isfinite(out)) and np.abs(out - y).max() > 1e-4
    a, b = recording.condition([y, y], "room-noise", seed=3), recording.condition([y, y], "room-noise", seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    assert np.abs(a[0] - a[1]).max() > 1e-4  # each clip its own room and noise
    with pytest.raises(ParameterError):
        recording.condition([y], "concert-hall")


def test_robust_features_extend_the_timbre_set_and_a_hidden_judge_reloads(notes, tmp_path):
    chosen = notes[::4]
    waveforms = [audio.load(n.path) for n in chosen]
    labels = np.array([n.family_id for n in chosen])
    robust, _ = timbre_features(waveforms, feature_set="robust")
    timbre, _ = timbre_features(waveforms[:2])
    assert robust.shape == (len(chosen), FEATURE_SETS["robust"]) and np.all(np.isfinite(robust))
    np.testing.assert_allclose(robust[:2, :timbre.shape[1]], timbre)
    judge = TimbreJudge(l2=1e-3, features="robust", hidden=16)
    judge.fit_features(robust, labels, epochs=60, batch_size=32)
    assert np.mean(np.argmax(judge.probabilities(robust), axis=1) == labels) == 1.0
    path = str(tmp_path / "judge.keras")
    judge.save(path)
    from soundtransform import evaluate

    again = evaluate.load_judge(path)
    assert (again.features, again.hidden) == ("robust", 16)
    np.testing.assert_allclose(again.classify(waveforms), judge.probabilities(robust), atol=1e-5)
    with pytest.raises(ParameterError):
        TimbreJudge(features="loudness")


def test_leave_one_soundfont_out_tests_each_soundfont_on_the_other(dataset, tmp_path):
    clean = judge_validation.note_features(dataset, str(tmp_path), "timbre", "clean", progress=False)
    assert set(clean["soundfonts"]) == {"FluidR3_GM", "TimGM6mb"}
    cached = judge_validation.note_features(dataset, str(tmp_path), "timbre", "clean", progress=False)
    np.testing.assert_array_equal(cached["features"], clean["features"])
    shifted = {**clean, "features": clean["features"] + 1e3}  # a condition no judge has heard
    result = judge_validation.leave_one_soundfont_out(
        lambda: TimbreJudge(l2=1e-3), clean, {"clean": clean, "shifted": shifted},
        fit_kwargs={"epochs": 5, "batch_size": 64}, progress=False)
    for held, figures in result.items():
        assert figures["trained_on"] == sorted({"FluidR3_GM", "TimGM6mb"} - {held})
        assert figures["train_notes"] == int(np.sum(clean["soundfonts"] != held))
        for condition in ("clean", "shifted"):
            assert set(figures[condition]) == {"flute", "keyboard"}
            assert all(0.0 <= r["judged_right"] <= 1.0 and r["notes"] > 0 for r in figures[condition].values())
    assert "| TimGM6mb | keyboard |" in judge_validation.table(json.loads(json.dumps(result)))


@pytest.mark.parametrize("degrade, model, words", [("room-noise", None, "--model"), ("hall", "x", "room-noise")])
def test_a_degraded_evaluation_needs_a_known_condition_and_a_model(degrade, model, words, tmp_path):
    from soundtransform.evaluate import evaluate

    with pytest.raises(ParameterError, match=words):
        evaluate(str(tmp_path), str(tmp_path), "flute", "keyboard", str(tmp_path / "out"), target_dir=str(tmp_path),
                 degrade=degrade, model=model)
