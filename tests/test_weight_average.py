"""The moving average of a generator's weights: its arithmetic, and a cgan that trains, judges and exports it."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from soundtransform import export, train
from soundtransform.errors import ParameterError
from soundtransform.methods import cgan
from soundtransform.methods.weight_average import WeightAverage
from soundtransform.networks.unet import UNet


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
    saved = keras.saving.load_model(run_dir / cgan.GENERATOR_FILE, compile=False)
    np.testing.assert_allclose(saved(images, training=False).numpy(), average, atol=1e-5)
    best = json.load(open(run_dir / (cgan.BEST_GENERATOR_FILE + ".json")))
    served = tf.saved_model.load(first["export"]).signatures["transform_images"](images=tf.constant(images))
    kept = keras.saving.load_model(run_dir / cgan.BEST_GENERATOR_FILE, compile=False)
    np.testing.assert_allclose(served["images"].numpy(), kept(images, training=False).numpy(), atol=1e-5)
    assert export.read_metadata(first["export"])["selected"] == best
    # Validation losses describe the average too: what is exported.
    source = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    target = np.random.default_rng(2).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    for tracker in model.metrics:
        tracker.reset_state()
    l1 = float(model.test_step((tf.constant(source), tf.constant(target)))["l1_loss"])
    expected = np.mean(np.abs(model.ema_generator.average(source, training=False).numpy() - target))
    assert l1 == pytest.approx(float(expected), rel=1e-4)

    # The checkpoint holds the average: a resumed run with nothing left to train ends where the first did.
    os.remove(run_dir / cgan.GENERATOR_FILE)
    again = train.train("cgan", dataset, run_dir=str(run_dir), preset="tiny", progress=False, epochs=2)
    resumed = again["model"]
    assert int(resumed.generator_optimizer.iterations) == int(model.generator_optimizer.iterations)
    np.testing.assert_allclose(resumed.ema_generator.average(images, training=False).numpy(), average, atol=1e-6)
    restored = keras.saving.load_model(run_dir / cgan.GENERATOR_FILE, compile=False)
    np.testing.assert_allclose(restored(images, training=False).numpy(), average, atol=1e-5)
    # ... and one more epoch averages on from there.
    more = train.train("cgan", dataset, run_dir=str(run_dir), preset="tiny", progress=False, epochs=3)["model"]
    assert int(more.generator_optimizer.iterations) == int(model.generator_optimizer.iterations) * 3 // 2
    assert not np.allclose(more.ema_generator.average(images, training=False).numpy(), average, atol=1e-5)
