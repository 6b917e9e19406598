import os

import numpy as np
import pytest

from conftest import assert_export_is_selected, run_cli
from soundtransform import presets
from soundtransform.training import runs


@pytest.mark.parametrize("input_shape", [(32, 32, 1), (None, None, 1)])
def test_transform_net_keeps_the_image_shape(input_shape, rng):
    from soundtransform.networks.transform_net import transform_net

    net = transform_net(input_shape, width=4, residual_blocks=2)
    images = rng.uniform(-1, 1, (2, 32, 48 if input_shape[1] is None else 32, 1)).astype(np.float32)
    out = net(images).numpy()
    assert out.shape == images.shape
    assert np.abs(out).max() <= 1.0
    assert sum(layer.name.endswith("_add") for layer in net.layers) == 2
    norms = [layer for layer in net.layers if layer.name.endswith("_norm")]
    assert norms and all(layer.groups == layer.gamma.shape[0] for layer in norms)  # one group per channel


def test_one_fit_step_trains_only_the_transform_net(dataset, classifier_path):
    from soundtransform import train
    from soundtransform.methods import faster

    config = presets.resolve("faster", "tiny", classifier=classifier_path)
    train_ds, valid_ds, info = faster.make_datasets(dataset, config, source="flute", target="keyboard")
    assert info["train_notes"] > 0 and 0 < len(info["style_paths"]) <= config["style_notes"]
    model = faster.build(config, info)
    # The target family's statistics: one Gram matrix per style layer, both envelopes.
    assert len(model.style_grams) == len(config["style_layers"])
    assert model.style_energy.shape == (1, config["frames"])
    assert model.style_frequency.shape == (1, config["freq_bins"])
    net_before = [w.numpy().copy() for w in model.transform_net.weights]
    vgg_before = [w.numpy().copy() for w in model.features.weights]
    history = model.fit(train.batch(train_ds, config, training=True), epochs=1, steps_per_epoch=1, verbose=0)
    for key in ("loss", "content", "style", "energy", "frequency"):
        assert np.isfinite(history.history[key][0])
    changed = [not np.array_equal(a, w.numpy()) for a, w in zip(net_before, model.transform_net.weights)]
    assert sum(changed) >= len(model.transform_net.trainable_weights) // 2
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(vgg_before, model.features.weights))


def test_train_cli_exports_a_model_that_reloads(dataset, classifier_path, tmp_path):
    import json

    import tensorflow as tf

    from soundtransform import audio
    from soundtransform.registry import read_metadata
    from soundtransform.training.runs import load_generator

    run_dir, export_dir = tmp_path / "run", tmp_path / "exported"
    result = run_cli("train", "--method", "faster", "--source", "flute", "--target", "keyboard",
                     "--data", dataset, "--preset", "tiny", "--run-dir", run_dir,
                     "--set", f"classifier={classifier_path}", "--set", f"export_dir={export_dir}")
    assert result.returncode == 0, result.stderr
    version_dir = export_dir / "faster_flute_to_keyboard" / "1"
    assert (version_dir / "saved_model.pb").is_file()
    assert os.listdir(run_dir / "logs" / "examples"), "example spectrograms are logged each epoch"
    metadata = read_metadata(str(version_dir))
    assert metadata["method"] == "faster" and metadata["target"] == "keyboard"
    assert metadata["losses"]["gamma"] == presets.resolve("faster", "tiny")["gamma"]
    assert metadata["training_data"]["train_notes"] > 0 and metadata["training_data"]["style_notes"] > 0
    assert "root" not in metadata["training_data"] and str(dataset) not in json.dumps(metadata)  # no machine paths
    assert metadata["config"]["preset"] == "tiny"
    generator = load_generator(str(run_dir / "generator.keras"))
    served = tf.saved_model.load(str(version_dir))
    image = audio.waveform_to_image(audio.load(
        os.path.join(dataset, "nsynth-train", "audio", os.listdir(os.path.join(dataset, "nsynth-train", "audio"))[0])
    ), freq_bins=32)[0][None, :, :32]
    expected = generator(image, training=False).numpy()
    got = served.signatures["transform_images"](images=image)["images"].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert not np.allclose(expected, image.numpy(), atol=1e-3)


def test_train_cli_needs_both_families(dataset, tmp_path):
    result = run_cli("train", "--method", "faster", "--source", "flute", "--data", dataset, "--preset", "tiny",
                     "--run-dir", tmp_path / "run")
    assert result.returncode == 2, result.stderr
    assert "Error:" in result.stderr and "--target" in result.stderr and "Traceback" not in result.stderr


def test_pitch_style_targets_are_each_inputs_own_target_note(dataset, classifier_path):
    import tensorflow as tf

    from soundtransform import data, losses, train
    from soundtransform.methods import faster

    config = presets.resolve("faster", "tiny", classifier=classifier_path, style_target="pitch")
    train_ds, valid_ds, info = faster.make_datasets(dataset, config, source="flute", target="keyboard")
    flutes = data.select(data.read_split(dataset, "train"), families=["flute"])
    assert info["train_notes"] > 0 and info["train_notes"] + info["unpaired_train_notes"] == len(flutes)
    assert len(info["target_instruments"]) == 1 and len(info["style_paths"]) <= config["style_notes"]
    source, target = next(iter(train_ds))
    assert source.shape == target.shape == (config["freq_bins"], config["frames"], 1)
    model = faster.build(config, info)
    images, style_images = (tf.stack(x) for x in zip(*[(s, t) for s, t in train_ds.take(2)]))
    grams, energy, frequency = model.style_targets(style_images)
    assert energy.shape == (2, config["frames"]) and frequency.shape == (2, config["freq_bins"])
    assert [g.shape[0] for g in grams] == [2] * len(config["style_layers"])
    outputs = model.transform_net(images)
    _, own = model.perceptual_losses(images, outputs, style_images)
    _, family = model.perceptual_losses(images, outputs)
    assert float(own["energy"]) != pytest.approx(float(family["energy"]))
    expected = float(tf.reduce_mean(tf.square(losses.temporal_envelope(outputs) - losses.temporal_envelope(style_images))))
    assert float(own["energy"]) == pytest.approx(expected, rel=1e-5)
    # Both steps use each batch's target notes, not the family mean.
    logs = model.test_step((images, style_images))
    assert float(logs["energy"]) == pytest.approx(float(own["energy"]), rel=1e-4)
    for tracker in model.metrics:
        tracker.reset_state()
    logs = model.train_step((images, style_images))
    assert float(logs["energy"]) == pytest.approx(float(own["energy"]), rel=1e-4)
    history = model.fit(train.batch(train_ds, config, training=True), epochs=1, steps_per_epoch=1, verbose=0)
    assert all(np.isfinite(v[0]) for v in history.history.values())


@pytest.mark.parametrize("style_target", ["family", "pitch"])
def test_banded_energy_targets_and_loss(dataset, classifier_path, style_target):
    import tensorflow as tf

    from soundtransform import losses, train
    from soundtransform.errors import ParameterError
    from soundtransform.methods import faster

    bands = 8
    config = presets.resolve("faster", "tiny", classifier=classifier_path, style_target=style_target,
                             energy_bands=bands)
    train_ds, _, info = faster.make_datasets(dataset, config, source="flute", target="keyboard")
    model = faster.build(config, info)
    assert model.get_config()["energy_bands"] == bands
    if style_target == "pitch":
        images, style_images = (tf.stack(x) for x in zip(*[(s, t) for s, t in train_ds.take(2)]))
        target = losses.temporal_envelope(style_images, bands)
    else:
        images, style_images = tf.stack(list(train_ds.take(2))), None
        target = model.style_energy  # the family's mean, band by band
    _, energy, _ = model.style_targets(style_images)
    assert energy.shape[1:] == (bands, config["frames"])
    outputs = model.transform_net(images)
    _, terms = model.perceptual_losses(images, outputs, style_images)
    expected = float(tf.reduce_mean(tf.square(losses.temporal_envelope(outputs, bands) - target)))
    assert float(terms["energy"]) == pytest.approx(expected, rel=1e-5)
    history = model.fit(train.batch(train_ds, config, training=True), epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["energy"][0])
    for bad in (0, 1.5, "all"):
        with pytest.raises(ParameterError, match="energy_bands must be a whole number"):
            presets.resolve("faster", "tiny", energy_bands=bad)


def test_target_instruments_only_with_pitch_style_targets():
    from soundtransform.errors import ParameterError

    with pytest.raises(ParameterError, match="target_instruments chooses the same-pitch targets of style_target=pitch"):
        presets.resolve("faster", "tiny", target_instruments="all")


def test_unknown_style_target_is_refused():
    from soundtransform.errors import ParameterError

    with pytest.raises(ParameterError, match="unknown style_target 'note'; choose one of: family, pitch"):
        presets.resolve("faster", "tiny", style_target="note")


def test_pitch_content_target_is_each_inputs_target_note(dataset, classifier_path):
    import tensorflow as tf

    from soundtransform import losses
    from soundtransform.errors import ParameterError
    from soundtransform.methods import faster

    config = presets.resolve("faster", "tiny", classifier=classifier_path, style_target="pitch",
                             content_target="pitch")
    train_ds, _, info = faster.make_datasets(dataset, config, source="flute", target="keyboard")
    model = faster.build(config, info)
    assert model.get_config()["content_target"] == "pitch"
    images, style_images = (tf.stack(x) for x in zip(*[(s, t) for s, t in train_ds.take(2)]))
    outputs = model.transform_net(images)
    _, terms = model.perceptual_losses(images, outputs, style_images)
    features = model.features(outputs, training=False)[0]
    to_target = float(losses.content_loss(features, model.features(style_images, training=False)[0]))
    to_input = float(losses.content_loss(features, model.features(images, training=False)[0]))
    assert to_target != pytest.approx(to_input)
    assert float(terms["content"]) == pytest.approx(to_target, rel=1e-5)
    # Without target notes there is nothing to match.
    with pytest.raises(ParameterError, match="content_target=pitch needs a same-pitch target note"):
        model.perceptual_losses(images, outputs)


def test_pitch_content_target_needs_pitch_style_targets(dataset, tmp_path):
    from soundtransform.errors import ParameterError

    with pytest.raises(ParameterError, match="content_target=pitch matches each input's same-pitch target note; "
                                             "it needs style_target=pitch$"):
        presets.resolve("faster", "tiny", content_target="pitch")
    with pytest.raises(ParameterError, match="unknown content_target 'target'; choose one of: input, pitch"):
        presets.resolve("faster", "tiny", style_target="pitch", content_target="target")
    # The command line says how to give the setting.
    result = run_cli("train", "--method", "faster", "--source", "flute", "--target", "keyboard", "--data", dataset,
                     "--preset", "tiny", "--run-dir", tmp_path / "run", "--set", "content_target=pitch")
    assert result.returncode == 2 and result.stderr.strip().endswith("it needs --set style_target=pitch")


def test_judge_selection_exports_the_best_judged_epoch(dataset, classifier_path, tmp_path):
    import json

    from soundtransform import train

    run_dir, exported = tmp_path / "run", str(tmp_path / "exported")
    first = train.train("faster", dataset, run_dir=str(run_dir), preset="tiny", source="flute", target="keyboard",
                        progress=False, export_dir=exported, classifier=classifier_path, select_by="judge", epochs=2)
    scores = list(zip(first["history"]["val_judged_target"], first["history"]["val_target_probability"]))
    assert len(scores) == 2 and all(0 <= j <= 1 and 0 <= p <= 1 for j, p in scores)
    best = json.load(open(run_dir / (runs.BEST_GENERATOR_FILE + ".json")))
    assert best == first["selected"]
    assert best["epoch"] == 1 + max(range(2), key=lambda i: scores[i])
    # The export is the selected generator, and its metadata says which epoch and file it is;
    # `soundtransform export RUN_DIR` re-exports the same one.
    assert_export_is_selected(first["export"], run_dir, runs.BEST_GENERATOR_FILE, runs.GENERATOR_FILE, best, 2,
                              exported, "faster_flute_to_keyboard")


def test_judge_selection_needs_valid_source_notes(dataset, classifier_path, tmp_path):
    import shutil

    from soundtransform.errors import DataError
    from soundtransform.methods import faster

    root = tmp_path / "no-valid"
    shutil.copytree(os.path.join(dataset, "nsynth-train"), root / "nsynth-train")
    config = presets.resolve("faster", "tiny", classifier=classifier_path, select_by="judge")
    with pytest.raises(DataError, match="select_by=judge needs flute sounds in the valid split"):
        faster.make_datasets(str(root), config, source="flute", target="keyboard")
    # Without selection the same data trains (its valid split is simply absent).
    train_ds, valid_ds, _ = faster.make_datasets(str(root), presets.resolve("faster", "tiny",
                                                                           classifier=classifier_path),
                                                 source="flute", target="keyboard")
    assert valid_ds is None and train_ds is not None


def test_weight_average_is_judged_exported_and_resumed(dataset, classifier_path, tmp_path):
    import json

    import keras
    import tensorflow as tf

    from soundtransform import train

    run_dir, exported = tmp_path / "run", str(tmp_path / "exported")
    first = train.train("faster", dataset, run_dir=str(run_dir), preset="tiny", source="flute", target="keyboard",
                        progress=False, export_dir=exported, classifier=classifier_path, select_by="judge",
                        ema_decay=0.5, epochs=2)
    model = first["model"]
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    average = model.ema_transform_net.average(images, training=False).numpy()
    assert not np.allclose(average, model.transform_net(images, training=False).numpy(), atol=1e-4)
    assert not model.ema_transform_net.average.trainable_weights
    # The average and the raw network are both judged every epoch; the average is what is kept.
    history = first["history"]
    assert len(history["val_judged_target"]) == len(history["val_judged_raw"]) == 2
    saved = keras.saving.load_model(run_dir / runs.GENERATOR_FILE, compile=False)
    np.testing.assert_allclose(saved(images, training=False).numpy(), average, atol=1e-5)
    best = json.load(open(run_dir / (runs.BEST_GENERATOR_FILE + ".json")))
    kept = keras.saving.load_model(run_dir / runs.BEST_GENERATOR_FILE, compile=False)
    served = tf.saved_model.load(first["export"]).signatures["transform_images"](images=tf.constant(images))
    np.testing.assert_allclose(served["images"].numpy(), kept(images, training=False).numpy(), atol=1e-5)
    assert first["selected"] == best
    if best["epoch"] == 2:  # the last epoch's average is what was selected
        np.testing.assert_allclose(served["images"].numpy(), average, atol=1e-5)
    # Validation losses describe the average too.
    for tracker in model.metrics:
        tracker.reset_state()
    logs = model.test_step(tf.constant(images))
    _, terms = model.perceptual_losses(tf.constant(images), model.ema_transform_net.average(images))
    assert float(logs["content"]) == pytest.approx(float(terms["content"]), rel=1e-4)

    # The checkpoint holds the average: resumed with nothing left to train, the run ends where it did.
    again = train.train("faster", dataset, run_dir=str(run_dir), preset="tiny", progress=False, epochs=2)["model"]
    assert int(again.optimizer.iterations) == int(model.optimizer.iterations)
    np.testing.assert_allclose(again.ema_transform_net.average(images, training=False).numpy(), average, atol=1e-6)


@pytest.mark.parametrize("decay", [1.0, 0, "high"])
def test_weight_average_decay_outside_zero_one_is_refused(decay):
    from soundtransform.errors import ParameterError

    with pytest.raises(ParameterError, match=f"ema_decay must be between 0 and 1 .*not {decay!r}"):
        presets.resolve("faster", "tiny", ema_decay=decay)


def test_init_from_fine_tunes_a_run_or_an_export(dataset, classifier_path, tmp_path):
    import json

    from soundtransform import train
    from soundtransform.errors import ParameterError
    from soundtransform.methods import faster

    exported = str(tmp_path / "exported")
    first = train.train("faster", dataset, run_dir=str(tmp_path / "first"), preset="tiny", source="flute",
                        target="keyboard", progress=False, export_dir=exported, classifier=classifier_path)
    trained = [w.numpy() for w in first["model"].transform_net.weights]
    config = presets.resolve("faster", "tiny", classifier=classifier_path)
    info = faster.make_datasets(dataset, config, source="flute", target="keyboard")[2]
    fresh = faster.build(config, info)
    assert not all(np.array_equal(w.numpy(), t) for w, t in zip(fresh.transform_net.weights, trained))
    for start in (str(tmp_path / "first"), first["export"]):
        # The weight average starts where the network starts.
        started = faster.build({**config, "init_from": start, "ema_decay": 0.9}, dict(info))
        for net in (started.transform_net, started.generator_to_export()):
            for w, t in zip(net.weights, trained):
                np.testing.assert_array_equal(w.numpy(), t)
    second = train.train("faster", dataset, run_dir=str(tmp_path / "second"), preset="tiny", source="flute",
                         target="keyboard", progress=False, export_dir=exported, classifier=classifier_path,
                         init_from=first["export"])
    saved = json.load(open(tmp_path / "second" / "config.json"))
    assert saved["data"]["init_from_file"] == first["export"]
    assert second["export"].endswith(os.path.join("faster_flute_to_keyboard", "2"))
    with pytest.raises(ParameterError, match="another architecture"):
        faster.build({**config, "width": 8, "init_from": first["export"]}, dict(info))
