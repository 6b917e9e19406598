import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from conftest import assert_one_line_error, make_tone, run_cli
from soundtransform import audio, data, evaluate


@pytest.mark.parametrize("seconds", [0.3, 0.5, 1.0, 4.0])
def test_windows_cover_any_length(seconds):
    y = make_tone(seconds=seconds)
    w = evaluate.windows(y, 32, 32)
    total = audio.samples_to_frames(len(y))
    assert w.shape == (-(-total // 32), 32, 32, 1)
    image = audio.waveform_to_image(y, 32)[0].numpy()
    if total < 32:
        np.testing.assert_array_equal(w[0][:, :total], image)
        assert np.all(w[0][:, total:] == -1.0)  # padded with silence
    else:
        np.testing.assert_array_equal(w[0], image[:, :32])
        np.testing.assert_array_equal(w[-1], image[:, -32:])  # the last window ends with the clip


def test_classify_waveforms_of_any_length(tiny_classifier):
    probs = evaluate.classify_waveforms([make_tone(seconds=s) for s in (0.2, 1.0, 9.0)], tiny_classifier)
    assert probs.shape == (3, len(data.FAMILIES))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    feats = evaluate.embed_waveforms([make_tone(), make_tone(seconds=3)], tiny_classifier, layer="block5_conv4")
    assert feats.shape == (2, 32)  # 512 channels at width 1/16, averaged over frequency and time
    top = evaluate.top_families(probs[0], 3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]


def test_pitch_preservation_finds_octave_errors():
    tones = [make_tone(f, seconds=2.5, decay=0.2) for f in (220.0, 330.0, 440.0)]
    same = evaluate.pitch_preservation(tones, tones)
    assert same["pairs"] == 3 and same["within_50_cents"] == 1.0 and same["median_abs_cents"] == 0.0
    up = [make_tone(2 * f, seconds=2.5, decay=0.2) for f in (220.0, 330.0, 440.0)]
    octave = evaluate.pitch_preservation(up, tones)
    assert octave["within_50_cents"] == 0.0 and octave["octave_errors"] == 1.0
    assert abs(octave["median_abs_cents"] - 1200) < 30
    off = evaluate.pitch_preservation([make_tone(440 * 2 ** (1 / 12), seconds=2.5, decay=0.2)], tones[2:])
    assert off["octave_errors"] == 0.0 and abs(off["median_abs_cents"] - 100) < 30


def test_log_spectral_distance_and_nearest_target():
    a, b = make_tone(440.0, seconds=2), make_tone(660.0, seconds=2)
    da, db = evaluate.db_image(a), evaluate.db_image(b)
    assert evaluate.log_spectral_distance(da, da) == 0.0
    assert evaluate.log_spectral_distance(da, db) > 5.0
    result = evaluate.nearest_target_distance([a, a], [69, 70], [(b, 69), (a, 69), (b, 72)])
    assert result["compared"] == 1 and result["mean_db"] == 0.0  # pitch 70 has no target


def test_separation_tells_own_group_from_mixed(rng):
    natural = rng.normal(0, 1, (40, 8))
    own = rng.normal(4, 1, (20, 8))
    mixed = rng.normal(0, 1, (20, 8))
    groups = np.array(["generated"] * 20 + ["source"] * 20 + ["target"] * 20)
    apart = evaluate.separation(np.concatenate([own, natural]), groups)
    together = evaluate.separation(np.concatenate([mixed, natural]), groups)
    assert apart["probe_accuracy"] > 0.9 and together["probe_accuracy"] < 0.75
    assert apart["silhouette_generated"] > together["silhouette_generated"]


def test_classify_cli_prints_top_families(tiny_classifier, notes, tmp_path):
    folder = tmp_path / "some"
    folder.mkdir()
    for n in notes[:3]:
        shutil.copy(n.path, folder)
    short = tmp_path / "short.wav"
    sf.write(short, make_tone(seconds=0.4), 22050)  # another rate, shorter than a window
    result = run_cli("classify", folder, short, "--classifier", tiny_classifier, "--top", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4 and lines[-1].startswith(str(short))
    for line in lines:
        families = line.rsplit(": ", 1)[1].split(", ")
        assert len(families) == 2 and all(f.split()[0] in data.FAMILIES for f in families)
        assert all(0 <= float(f.split()[1]) <= 1 for f in families)


def _baseline(notes, tmp_path, source="flute"):
    """The unconverted input as a method's output: copies of the source notes."""
    generated = tmp_path / "generated"
    generated.mkdir()
    for n in notes:
        if n.family == source:
            shutil.copy(n.path, generated)
    return generated


def test_evaluate_cli_judges_the_unconverted_baseline(tiny_classifier, dataset, notes, tmp_path):
    generated = _baseline(notes, tmp_path)
    inputs = os.path.join(dataset, "nsynth-train", "audio")
    out = tmp_path / "report"
    result = run_cli("evaluate", generated, "--inputs", inputs, "--source", "flute", "--target", "keyboard",
                     "--data", dataset, "--split", "train", "--judge", tiny_classifier, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "| classified as target |" in result.stdout
    report = json.load(open(out / "report.json"))
    n_flute_train = len(data.select(data.read_split(dataset, "train"), families=["flute"]))
    assert report["counts"]["generated"] == len(os.listdir(generated))
    assert report["counts"]["matched_inputs"] == n_flute_train  # the valid/test flutes have no input there
    c = report["consistency"]
    assert c["as_target"] + c["as_source"] + c["as_other"] == pytest.approx(1.0)
    assert report["pitch"]["within_50_cents"] == 1.0 and report["pitch"]["median_abs_cents"] == 0.0
    assert report["log_spectral_distance"]["compared"] == n_flute_train
    assert report["log_spectral_distance"]["mean_db"] > 1.0  # a flute is not a keyboard
    assert (out / "tsne.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "report.md").read_text().startswith("flute -> keyboard")


@pytest.mark.parametrize(
    "case, code, pattern",
    [
        ("missing", 1, "does not exist"),
        ("empty", 1, "holds no audio files"),
        ("unmatched", 1, "no generated file has an input"),
        ("family", 2, "unknown target family"),
        ("judge", 1, "no classifier at"),
        ("targets", 2, "either a dataset"),
    ],
)
def test_evaluate_cli_errors_are_one_line(case, code, pattern, tiny_classifier, dataset, tmp_path):
    good = tmp_path / "gen"
    good.mkdir()
    sf.write(good / "flute_acoustic_999-060-100.wav", make_tone(seconds=1), 16000)
    empty = tmp_path / "empty"
    empty.mkdir()
    args = {"gen": good, "inputs": good, "target": "keyboard", "judge": tiny_classifier, "data": ["--data", dataset]}
    if case == "missing":
        args["gen"] = tmp_path / "nope"
    elif case == "empty":
        args["gen"] = empty
    elif case == "unmatched":
        args["inputs"] = os.path.join(dataset, "nsynth-test", "audio")
    elif case == "family":
        args["target"] = "piano"
    elif case == "judge":
        args["judge"] = tmp_path / "none.keras"
    elif case == "targets":
        args["data"] = []
    result = run_cli("evaluate", args["gen"], "--inputs", args["inputs"], "--source", "flute", "--target",
                     args["target"], *args["data"], "--judge", args["judge"], "--out", tmp_path / "out")
    assert_one_line_error(result, code, pattern)


def test_classify_cli_errors_are_one_line(tiny_classifier, tmp_path):
    text = tmp_path / "text.wav"
    text.write_text("hello")
    assert_one_line_error(run_cli("classify", text, "--classifier", tiny_classifier), 1, "cannot read")
    assert_one_line_error(run_cli("classify", tmp_path / "x.wav", "--classifier", tiny_classifier), 1, "no such file")
    assert_one_line_error(run_cli("classify", text, "--classifier", tmp_path / "c.keras"), 1, "no classifier at")
