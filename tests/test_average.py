"""training/average.py: the moving average of a generator's weights (its arithmetic, and a cgan that trains,
judges and exports it) and the weighted mean of saved generators (the library and benchmarks/average_generators.py)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from soundtransform import export, registry, train
from soundtransform.errors import ParameterError
from soundtransform.networks.unet import UNet
from soundtransform.training import average, runs
from soundtransform.training.average import WeightAverage
from test_export import OVERLAP, identity_generator, tiny_generator

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "average_generators.py")


def _weights(network):
    return [w.numpy().copy() for w in network.weights]


@pytest.mark.parametrize("step, decay", [(1, 2 / 11), (1000, 0.9)])
def test_average_moves_toward_the_network_with_warm_up(rng, step, decay):
    network = UNet((32, 32, 1), ngf=4, depth=3)
    average = WeightAverage(network, decay=0.9)
    start = _weights(network)
    assert all(np.array_equal(a, b) for a, b in zip(_weights(average.average), start))  # a copy at first
    network.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in start])
    moved = _weights(network)
    average.update(network, step)
    # d = min(0.9, (1 + t) / (10 + t)): the warm-up lets the first steps count more.
    for got, old, new in zip(_weights(average.average), start, moved):
        np.testing.assert_allclose(got, decay * old + (1 - decay) * new, rtol=1e-5, atol=1e-6)
    assert not average.average.trainable_weights  # never trained, only averaged
    images = rng.uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    assert not np.allclose(average(images).numpy(), network(images).numpy())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 2, "high"])
def test_decay_outside_zero_one_is_refused_before_the_run_starts(dataset, tmp_path, decay):
    with pytest.raises(ParameterError, match=f"ema_decay must be between 0 and 1 .*not {decay!r}"):
        train.train("cgan", dataset, run_dir=str(tmp_path / "run"), preset="tiny", source="flute",
                    target="keyboard", progress=False, ema_decay=decay)
    assert not (tmp_path / "run").exists()


def test_cgan_judges_saves_exports_and_resumes_the_average(dataset, tmp_path):
    run_dir, exported = tmp_path / "run", str(tmp_path / "exported")
    first = train.train("cgan", dataset, run_dir=str(run_dir), preset="tiny", source="flute", target="keyboard",
                        progress=False, export_dir=exported, select_by="judge", ema_decay=0.5, epochs=2)
    model = first["model"]
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    average = model.ema_generator.average(images, training=False).numpy()
    raw = model.generator(images, training=False).numpy()
    assert not np.allclose(average, raw, atol=1e-4)
    # Both are judged every epoch; the average is what is kept.
    history = first["history"]
    assert len(history["val_judged_target"]) == len(history["val_judged_raw"]) == 2
    saved = keras.saving.load_model(run_dir / runs.GENERATOR_FILE, compile=False)
    np.testing.assert_allclose(saved(images, training=False).numpy(), average, atol=1e-5)
    best = json.load(open(run_dir / (runs.BEST_GENERATOR_FILE + ".json")))
    served = tf.saved_model.load(first["export"]).signatures["transform_images"](images=tf.constant(images))
    kept = keras.saving.load_model(run_dir / runs.BEST_GENERATOR_FILE, compile=False)
    np.testing.assert_allclose(served["images"].numpy(), kept(images, training=False).numpy(), atol=1e-5)
    assert registry.read_metadata(first["export"])["selected"] == best
    # Validation losses describe the average too: what is exported.
    source = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    target = np.random.default_rng(2).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    for tracker in model.metrics:
        tracker.reset_state()
    l1 = float(model.test_step((tf.constant(source), tf.constant(target)))["l1_loss"])
    expected = np.mean(np.abs(model.ema_generator.average(source, training=False).numpy() - target))
    assert l1 == pytest.approx(float(expected), rel=1e-4)

    # The checkpoint holds the average: a resumed run with nothing left to train ends where the first did.
    os.remove(run_dir / runs.GENERATOR_FILE)
    again = train.train("cgan", dataset, run_dir=str(run_dir), preset="tiny", progress=False, epochs=2)
    resumed = again["model"]
    assert int(resumed.generator_optimizer.iterations) == int(model.generator_optimizer.iterations)
    np.testing.assert_allclose(resumed.ema_generator.average(images, training=False).numpy(), average, atol=1e-6)
    restored = keras.saving.load_model(run_dir / runs.GENERATOR_FILE, compile=False)
    np.testing.assert_allclose(restored(images, training=False).numpy(), average, atol=1e-5)
    # ... and one more epoch averages on from there.
    more = train.train("cgan", dataset, run_dir=str(run_dir), preset="tiny", progress=False, epochs=3)["model"]
    assert int(more.generator_optimizer.iterations) == int(model.generator_optimizer.iterations) * 3 // 2
    assert not np.allclose(more.ema_generator.average(images, training=False).numpy(), average, atol=1e-5)


def run_script(*args, cwd):
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def two_exports(tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    meta = {"method": "test", "source": "flute", "target": "keyboard", "preset": "tiny"}
    a = export.export_generator(tiny_generator(seed=0), "a", meta, base_dir=str(base), overlap=OVERLAP)
    b = export.export_generator(tiny_generator(seed=1), "b", meta, base_dir=str(base), overlap=OVERLAP)
    other = export.export_generator(identity_generator(), "other", meta, base_dir=str(base), overlap=OVERLAP)
    return {"base": base, "a": a, "b": b, "other": other}


def generator_weights(version_dir):
    return runs.load_exported_generator(version_dir).get_weights()


def test_weighted_mean_is_exported_with_its_sources(two_exports):
    base = two_exports["base"]
    result = run_script(two_exports["a"], two_exports["b"], "--name", "soup", "--weight", "0.25",
                        "--base-dir", str(base / "soups"), cwd=str(base))
    assert result.returncode == 0, result.stderr
    version_dir = result.stdout.strip().splitlines()[-1]
    assert version_dir == str(base / "soups" / "soup" / "1")
    wa, wb, mean = (generator_weights(d) for d in (two_exports["a"], two_exports["b"], version_dir))
    assert any(not np.allclose(x, y) for x, y in zip(wa, wb))  # the two really differ
    for x, y, m in zip(wa, wb, mean):
        np.testing.assert_allclose(m, 0.25 * x + 0.75 * y, rtol=1e-5, atol=1e-6)
    with open(os.path.join(version_dir, "assets", "soundtransform.json"), encoding="utf-8") as f:
        meta = json.load(f)
    # the sources are named relative to the working folder, so no machine's paths are shipped
    assert meta["averaged_from"] == {"a/1": 0.25, "b/1": 0.75}
    assert meta["method"] == "test" and meta["name"] == "soup"


def test_different_architectures_and_bad_weight_are_one_line_errors(two_exports):
    base = two_exports["base"]
    result = run_script(two_exports["a"], two_exports["other"], "--name", "bad", "--base-dir", str(base / "x"),
                        cwd=str(base))
    assert result.returncode != 0
    assert "different architectures" in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists(base / "x" / "bad")
    result = run_script(two_exports["a"], two_exports["b"], "--name", "bad", "--weight", "1.5", cwd=str(base))
    assert result.returncode == 2 and "--weight must be in [0, 1]" in result.stderr


def test_valid_split_chooses_the_weight(two_exports, tmp_path):
    """--valid scores each weight on valid-split notes and phrase windows and exports the best one."""
    from soundtransform import phrases
    from soundtransform.render import render_dataset

    root = str(tmp_path / "data")
    render_dataset(root, families=["flute"], pitches=(60, 67), velocities=(100,), progress=False)
    phrases.render_phrases(root, melodies=1, soundfonts=["TimGM6mb"], families=["flute"], progress=False)
    result = run_script(two_exports["a"], two_exports["b"], "--name", "chosen", "--valid", root, "--weights", "0,1",
                        "--select-notes", "3", "--base-dir", str(tmp_path / "soups"), cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line.startswith("| 0 |") or line.startswith("| 1 |")]
    assert len(rows) == 2, result.stdout
    assert lines[0].startswith(f"valid split of {root}: 3 notes, ")
    best = float(next(line for line in lines if line.startswith("best: weight ")).split()[-1])
    assert best in (0.0, 1.0)
    chosen = generator_weights(lines[-1])
    expected = generator_weights(two_exports["a"] if best == 1.0 else two_exports["b"])
    for x, y in zip(chosen, expected):
        np.testing.assert_allclose(x, y, rtol=1e-6)
    result = run_script(two_exports["a"], two_exports["b"], "--name", "bad", "--valid", root, "--weights", "0,x",
                        cwd=str(tmp_path))
    assert result.returncode == 2 and "--weights must be numbers" in result.stderr


def test_library_mean_of_two_exports_names_its_sources_by_name_and_version(two_exports, tmp_path):
    version_dir = average.export_average([two_exports["a"], two_exports["b"]], [0.5, 0.5], "mean",
                                         base_dir=str(tmp_path / "soups"))
    wa, wb, mean = (generator_weights(d) for d in (two_exports["a"], two_exports["b"], version_dir))
    for x, y, m in zip(wa, wb, mean):
        np.testing.assert_allclose(m, 0.5 * x + 0.5 * y, rtol=1e-5, atol=1e-6)
    metadata = registry.read_metadata(version_dir)
    assert metadata["averaged_from"] == {"a/1": 0.5, "b/1": 0.5}
    assert metadata["overlap"] == OVERLAP and metadata["method"] == "test"


@pytest.mark.parametrize("shares, words", [([0.5, 0.6], "must sum to 1"), ([1.5, -0.5], "must be in [0, 1]"),
                                           ([1.0], "two or more generators")])
def test_library_refuses_bad_shares(two_exports, shares, words):
    models = [two_exports["a"], two_exports["b"]][:len(shares)]
    with pytest.raises(ParameterError, match=words.replace("[", r"\[").replace("]", r"\]")):
        average.average_generators(models, shares)


def test_library_refuses_different_architectures(two_exports):
    with pytest.raises(ParameterError, match="different architectures"):
        average.average_generators([two_exports["a"], two_exports["other"]], [0.5, 0.5])
