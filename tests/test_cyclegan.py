"""CycleGAN on a few real rendered notes: fit steps, both exports, resume, errors."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_linear_decay_survives_resume
from soundtransform import audio, export, presets, registry, train
from soundtransform.errors import DataError, ParameterError
from soundtransform.methods import cyclegan
from soundtransform.training import runs
from test_cgan import fit_changes_every_network


def test_fit_step_changes_all_four_networks(dataset):
    networks = ("generator_g", "generator_f", "discriminator_x", "discriminator_y")
    model, history, info = fit_changes_every_network(cyclegan, networks, dataset, "cyclegan")
    assert {"g_loss", "f_loss", "cycle_loss", "identity_loss", "d_x_loss", "d_y_loss"} <= set(history.history)
    assert int(model.generator_optimizer.iterations) == int(model.discriminator_optimizer.iterations) == 1


def test_unpaired_examples_cover_the_larger_set(dataset):
    config = presets.resolve("cyclegan", "tiny")
    train_ds, valid_ds, info = cyclegan.make_datasets(dataset, config, source="flute", target="keyboard")
    # One target instrument (2 notes) against every train flute note: the targets repeat.
    assert len(info["target_instruments"]) == 1
    assert sum(1 for _ in train_ds) == max(info["train_source_notes"], info["train_target_notes"])
    assert valid_ds is not None and sum(1 for _ in valid_ds) == info["valid_source_notes"]


def test_train_exports_both_directions_and_resumes(dataset, tmp_path):
    run_dir, exported = str(tmp_path / "run"), str(tmp_path / "exported")
    steps = presets.resolve("cyclegan", "tiny")["steps_per_epoch"]
    first = train.train("cyclegan", dataset, run_dir=run_dir, preset="tiny", source="flute", target="keyboard",
                        progress=False, export_dir=exported)
    model = first["model"]
    frames = presets.resolve("cyclegan", "tiny")["frames"]
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, frames, 1)).astype(np.float32)
    for a, b, network in (("flute", "keyboard", model.generator_g), ("keyboard", "flute", model.generator_f)):
        version_dir = first[f"export_{a}_to_{b}"]
        assert version_dir == os.path.join(exported, f"cyclegan_{a}_to_{b}", "1")
        metadata = registry.read_metadata(version_dir)
        assert (metadata["method"], metadata["source"], metadata["target"]) == ("cyclegan", a, b)
        assert "cycle_loss" in metadata["metrics"]
        saved = keras.saving.load_model(os.path.join(run_dir, f"generator_{a}_to_{b}.keras"), compile=False)
        served = tf.saved_model.load(version_dir)
        expected = network(images, training=False).numpy()
        np.testing.assert_allclose(saved(images, training=False).numpy(), expected, atol=1e-6)
        np.testing.assert_allclose(served.signatures["transform_images"](images=tf.constant(images))["images"],
                                   expected, atol=1e-5)
        # Both directions serve audio: a waveform in, a waveform of the same length out.
        wave = np.sin(2 * np.pi * 440 * np.arange(4000) / audio.SAMPLE_RATE).astype(np.float32)[None] * 0.3
        out = served.signatures["serving_default"](waveform=tf.constant(wave))["waveform"].numpy()
        assert out.shape == wave.shape and np.all(np.isfinite(out))

    second = train.train("cyclegan", dataset, run_dir=run_dir, preset="tiny", progress=False, epochs=2)
    assert len(second["history"]["cycle_loss"]) == 1
    assert int(second["model"].generator_optimizer.iterations) == 2 * steps
    assert int(second["model"].discriminator_optimizer.iterations) == 2 * steps
    assert second["export_keyboard_to_flute"].endswith(os.path.join("cyclegan_keyboard_to_flute", "2"))


@pytest.mark.parametrize("source, target, error, message", [
    ("flute", None, ParameterError, "give a source and a target"),
    ("flute", "drums", ParameterError, "unknown family 'drums'"),
    ("brass", "keyboard", DataError, "no brass notes in split 'train'"),
])
def test_bad_families_fail_in_one_line(dataset, source, target, error, message):
    with pytest.raises(error, match=message):
        cyclegan.make_datasets(dataset, presets.resolve("cyclegan", "tiny"), source=source, target=target)


def test_judge_selection_keeps_each_directions_best_epoch(dataset, tmp_path):
    run_dir, exported = tmp_path / "run", str(tmp_path / "exported")
    result = train.train("cyclegan", dataset, run_dir=str(run_dir), preset="tiny", source="flute",
                         target="keyboard", progress=False, export_dir=exported, select_by="judge", epochs=2)
    history = result["history"]
    for a, b in (("flute", "keyboard"), ("keyboard", "flute")):
        scores = list(zip(history[f"val_judged_{b}"], history[f"val_{b}_probability"]))
        assert len(scores) == 2 and all(0 <= j <= 1 and 0 <= p <= 1 for j, p in scores)
        best_path = run_dir / runs.best_file(f"generator_{a}_to_{b}.keras")
        best = json.load(open(str(best_path) + ".json"))
        assert best["epoch"] == 1 + max(range(2), key=lambda i: scores[i])
        metadata = registry.read_metadata(result[f"export_{a}_to_{b}"])
        assert metadata["selected"] == best and metadata["generator_file"] == best_path.name
        generator = keras.saving.load_model(best_path, compile=False)
        images = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
        served = tf.saved_model.load(result[f"export_{a}_to_{b}"]).signatures["transform_images"]
        np.testing.assert_allclose(served(images=tf.constant(images))["images"].numpy(),
                                   generator(images, training=False).numpy(), atol=1e-5)
        # Re-exporting the best file keeps the direction's name (not ..._best) and the selection.
        again = export.export_run(str(best_path), base_dir=exported)
        assert os.path.dirname(again) == os.path.join(exported, f"cyclegan_{a}_to_{b}")
        assert registry.read_metadata(again)["selected"] == best


def test_pitch_anchor_adds_its_weighted_term_and_trains(dataset, tmp_path):
    config = presets.resolve("cyclegan", "tiny", lambda_pitch=2.0)
    train_ds, _, info = cyclegan.make_datasets(dataset, config, source="flute", target="keyboard")
    real_x, real_y = (tf.stack(images) for images in zip(*train_ds.take(2)))
    anchored = cyclegan.build(config, info)
    free = cyclegan.build({**config, "lambda_pitch": 0.0}, info)
    free.set_weights(anchored.get_weights())
    _, _, with_pitch = anchored.generator_losses(real_x, real_y, training=False)
    _, _, without = free.generator_losses(real_x, real_y, training=False)
    pitch = float(with_pitch["pitch_loss"])
    assert 0.0 < pitch == pytest.approx(float(without["pitch_loss"]), rel=1e-5)
    for name in ("g_loss", "f_loss"):
        assert float(with_pitch[name]) - float(without[name]) == pytest.approx(2.0 * pitch, rel=1e-4)
    # The weight travels with the saved model, and training logs the term.
    assert cyclegan.CycleGAN.from_config(anchored.get_config()).lambda_pitch == 2.0
    result = train.train("cyclegan", dataset, run_dir=str(tmp_path / "run"), preset="tiny", source="flute",
                         target="keyboard", progress=False, export_dir=str(tmp_path / "exported"),
                         lambda_pitch=2.0)
    assert np.isfinite(result["history"]["pitch_loss"]).all()


@pytest.mark.parametrize("setting, value, message", [
    ("lambda_pitch", -1.0, "lambda_pitch must be a number, 0 or more, not -1.0"),
    ("pitch_width", 8, "pitch_width must be an odd whole number of rows, 3 or more, not 8"),
    ("pitch_width", 1, "pitch_width must be an odd whole number of rows, 3 or more, not 1"),
])
def test_bad_pitch_anchor_settings_fail_before_training(setting, value, message):
    with pytest.raises(ParameterError, match=message):
        presets.resolve("cyclegan", "tiny", **{setting: value})


def test_fine_tune_from_a_run_with_weight_averages(dataset, tmp_path):
    """init_from starts G and F from a run's generators; ema_decay exports, judges and resumes the averages."""
    first_dir = tmp_path / "first"
    first = train.train("cyclegan", dataset, run_dir=str(first_dir), preset="tiny", source="flute",
                        target="keyboard", progress=False, export_dir=str(tmp_path / "exported"))
    config = presets.resolve("cyclegan", "tiny", init_from=str(first_dir), ema_decay=0.9)
    train_ds, _, info = cyclegan.make_datasets(dataset, config, source="flute", target="keyboard")
    model = cyclegan.build(config, info)
    for attr, filename in (("generator_g", "generator_flute_to_keyboard.keras"),
                           ("generator_f", "generator_keyboard_to_flute.keras")):
        started = keras.saving.load_model(first_dir / filename, compile=False)
        for mine, theirs in zip(model.to_export(attr).get_weights() + getattr(model, attr).get_weights(),
                                started.get_weights() * 2):
            np.testing.assert_array_equal(mine, theirs)
    assert info["init_from_file"] == [str(first_dir / "generator_flute_to_keyboard.keras"),
                                      str(first_dir / "generator_keyboard_to_flute.keras")]
    assert cyclegan.CycleGAN.from_config(model.get_config()).ema_decay == 0.9

    run_dir, exported = tmp_path / "tuned", str(tmp_path / "tuned-exported")
    tuned = train.train("cyclegan", dataset, run_dir=str(run_dir), preset="tiny", source="flute",
                        target="keyboard", progress=False, export_dir=exported, init_from=str(first_dir),
                        ema_decay=0.9)
    model = tuned["model"]
    images = np.random.default_rng(2).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    for attr, (a, b) in (("generator_g", ("flute", "keyboard")), ("generator_f", ("keyboard", "flute"))):
        average, raw = model.to_export(attr), getattr(model, attr)
        # The average trails the trained network, and it is what the run saves and exports.
        assert any(not np.array_equal(x, y) for x, y in zip(average.get_weights(), raw.get_weights()))
        expected = average(images, training=False).numpy()
        saved = keras.saving.load_model(run_dir / f"generator_{a}_to_{b}.keras", compile=False)
        np.testing.assert_allclose(saved(images, training=False).numpy(), expected, atol=1e-6)
        served = tf.saved_model.load(tuned[f"export_{a}_to_{b}"]).signatures["transform_images"]
        np.testing.assert_allclose(served(images=tf.constant(images))["images"].numpy(), expected, atol=1e-5)
    # A resumed run restores the averages from its backup and keeps averaging; it does not start again.
    before = [w.copy() for w in model.to_export("generator_g").get_weights()]
    again = train.train("cyclegan", dataset, run_dir=str(run_dir), preset="tiny", progress=False, epochs=2,
                        export_dir=exported)
    resumed = again["model"].to_export("generator_g").get_weights()
    assert len(again["history"]["cycle_loss"]) == 1
    assert any(not np.array_equal(x, y) for x, y in zip(before, resumed))
    started = keras.saving.load_model(first_dir / "generator_flute_to_keyboard.keras", compile=False)
    assert any(not np.array_equal(x, y) for x, y in zip(started.get_weights(), resumed))


@pytest.mark.parametrize("init_from, message", [
    ("missing", "init_from: .*missing is not a CycleGAN run folder"),
    ("cgan", "init_from: .*cgan is not a CycleGAN run folder"),
    ("reversed", "init_from: .*reversed has no generator_flute_to_keyboard.keras"),
])
def test_bad_init_from_fails_before_training(dataset, tmp_path, init_from, message):
    folder = tmp_path / init_from
    if init_from != "missing":
        folder.mkdir()
        method = "cgan" if init_from == "cgan" else "cyclegan"
        (folder / "config.json").write_text(json.dumps({"config": {"method": method}, "source": "keyboard",
                                                        "target": "flute"}))
        if init_from == "reversed":
            (folder / "generator_keyboard_to_flute.keras").write_text("not read")
    config = presets.resolve("cyclegan", "tiny", init_from=str(folder))
    with pytest.raises(DataError, match=message):
        cyclegan.make_datasets(dataset, config, source="flute", target="keyboard")
    with pytest.raises(ParameterError, match="ema_decay must be between 0 and 1"):
        presets.resolve("cyclegan", "tiny", ema_decay=1.5)


def test_linear_decay_sets_each_epochs_rate_and_survives_resume(dataset, tmp_path):
    assert_linear_decay_survives_resume("cyclegan", dataset, tmp_path)
    with pytest.raises(ParameterError, match="decay_from must be the first epoch"):
        presets.resolve("cyclegan", "tiny", decay_from=0)


def test_augmented_sources_train_against_their_rendered_images(dataset, tmp_path):
    """Augmented flutes go into G; the cycle, identity and pitch terms and D_X see them as rendered."""
    plain = presets.resolve("cyclegan", "tiny")
    config = {**plain, "augment_gain_db": 6.0, "augment_noise_db": -50.0}
    augmented, valid, info = cyclegan.make_datasets(dataset, config, source="flute", target="keyboard")
    rendered = cyclegan.make_datasets(dataset, plain, source="flute", target="keyboard")[0]
    examples = iter(augmented)
    ((noisy, clean), target), ((again, clean_again), _) = next(examples), next(examples)
    first_x, first_y = next(iter(rendered))
    # The same shuffled note, as rendered beside its augmented copy; the target is untouched.
    np.testing.assert_array_equal(clean, first_x)
    np.testing.assert_array_equal(target, first_y)
    for changed, image in ((noisy, clean), (again, clean_again)):
        assert np.abs(changed.numpy() - image.numpy()).max() > 0.01
    assert len(next(iter(valid))) == 2 and not isinstance(next(iter(valid))[0], tuple)
    # The cycle is held to the rendered image: with clean_x, the terms are those of the clean source's.
    model = cyclegan.build(config, info)
    x, y = tf.stack([noisy, again]), tf.stack([target, target])
    x_clean = tf.stack([clean, clean_again])
    _, _, held = model.generator_losses(x, y, training=False, clean_x=x_clean)
    _, _, own = model.generator_losses(x, y, training=False)
    cycled = model.generator_f(model.generator_g(x, training=False), training=False)
    expected = float(cyclegan.losses.cycle_loss(x_clean, cycled)
                     + cyclegan.losses.cycle_loss(y, model.generator_g(model.generator_f(y, training=False),
                                                                      training=False)))
    assert float(held["cycle_loss"]) == pytest.approx(expected, rel=1e-5)
    assert abs(float(held["cycle_loss"]) - float(own["cycle_loss"])) > 1e-4
    # A run resumes with them (a setting a resumed run may change; config.json keeps when it did) and trains.
    run_dir = str(tmp_path / "run")
    train.train("cyclegan", dataset, run_dir=run_dir, preset="tiny", source="flute", target="keyboard",
                progress=False, export_dir=str(tmp_path / "exported"))
    result = train.train("cyclegan", dataset, run_dir=run_dir, preset="tiny", progress=False, epochs=2,
                         augment_gain_db=6.0, augment_noise_db=-50.0)
    assert len(result["history"]["cycle_loss"]) == 1 and np.isfinite(result["history"]["cycle_loss"]).all()
    saved = train.load_config(run_dir)["config"]
    assert (saved["epochs"], saved["augment_gain_db"], saved["augment_noise_db"]) == (2, 6.0, -50.0)
    assert saved["changes"] == [{"after_epoch": 1, "key": "augment_gain_db", "from": 0.0, "to": 6.0},
                                {"after_epoch": 1, "key": "augment_noise_db", "from": None, "to": -50.0}]
    with pytest.raises(ParameterError, match="resumes a run started with lambda_pitch=0.0; only --epochs and "
                                             "augment_gain_db"):
        train.train("cyclegan", dataset, run_dir=run_dir, preset="tiny", progress=False, lambda_pitch=1.0)
    # A bad level is refused before any folder is made.
    with pytest.raises(ParameterError, match="augment_noise_db must be None or a level below 0 dB"):
        train.train("cyclegan", dataset, run_dir=str(tmp_path / "bad"), preset="tiny", source="flute",
                    target="keyboard", progress=False, augment_noise_db=3.0)
    assert not (tmp_path / "bad").exists()
