"""pix2pix on a few real rendered notes: fit steps, artifacts, export, resume, errors."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_export_is_selected, run_cli
from soundtransform import data, export, presets, registry, train
from soundtransform.errors import DataError, ParameterError
from soundtransform.methods import cgan
from soundtransform.train import batch
from soundtransform.training import augment, runs


def _weights(network):
    return [v.numpy().copy() for v in network.trainable_variables]


def fit_changes_every_network(module, networks, dataset, method):
    """Shared helper: one ``fit`` step on real notes moves every trainable variable of every network."""
    config = presets.resolve(method, "tiny")
    train_ds, valid_ds, info = module.make_datasets(dataset, config, source="flute", target="keyboard")
    model = module.build(config, info)
    before = {name: _weights(getattr(model, name)) for name in networks}
    history = model.fit(batch(train_ds, config, training=True), epochs=1, steps_per_epoch=1, verbose=0)
    for name in networks:
        after = _weights(getattr(model, name))
        unchanged = [v.path for v, a, b in zip(getattr(model, name).trainable_variables, before[name], after)
                     if np.array_equal(a, b)]
        assert not unchanged, f"{name}: {unchanged}"
    assert all(np.isfinite(v[0]) for v in history.history.values())
    return model, history, info


def test_fit_step_changes_both_networks(dataset):
    model, history, info = fit_changes_every_network(cgan, ("generator", "discriminator"), dataset, "cgan")
    assert {"d_loss", "g_loss", "g_gan_loss", "l1_loss"} <= set(history.history)
    assert int(model.generator_optimizer.iterations) == int(model.discriminator_optimizer.iterations) == 1


def test_pairs_share_pitch_and_velocity_and_one_target_instrument(dataset):
    config = presets.resolve("cgan", "tiny")
    train_ds, valid_ds, info = cgan.make_datasets(dataset, config, source="flute", target="keyboard")
    assert len(info["target_instruments"]) == 1 and info["target_instruments"][0].startswith("keyboard_")
    # Every train flute note has its partner: the keyboard note of the same pitch and velocity.
    flutes = data.select(data.read_split(dataset, "train"), families=["flute"])
    assert info["train_pairs"] == len(flutes) and info["valid_pairs"] > 0
    source, target = next(iter(train_ds))
    assert source.shape == target.shape == (config["freq_bins"], config["frames"], 1)
    everything = cgan.make_datasets(dataset, {**config, "target_instruments": "all"}, "flute", "keyboard")[2]
    assert len(everything["target_instruments"]) > 1 and everything["train_pairs"] > info["train_pairs"]


def test_train_exports_reloads_and_resumes(dataset, tmp_path):
    run_dir, exported = str(tmp_path / "run"), str(tmp_path / "exported")
    steps = presets.resolve("cgan", "tiny")["steps_per_epoch"]
    first = train.train("cgan", dataset, run_dir=run_dir, preset="tiny", source="flute", target="keyboard",
                        progress=False, export_dir=exported)
    # Artifacts: generator.keras, one export into the chosen folder, the losses, TensorBoard examples.
    assert first["export"] == os.path.join(exported, "cgan_flute_to_keyboard", "1")
    metadata = registry.read_metadata(first["export"])
    assert (metadata["method"], metadata["source"], metadata["target"]) == ("cgan", "flute", "keyboard")
    assert metadata["metrics"]["epoch"] == 1 and "l1_loss" in metadata["metrics"]
    assert metadata["training_data"]["train_pairs"] > 0
    # The metadata names files and data without this machine's folders.
    assert metadata["generator_file"] == runs.GENERATOR_FILE and "export_dir" not in metadata["config"]
    assert str(tmp_path) not in json.dumps(metadata) and dataset not in json.dumps(metadata)
    assert os.listdir(os.path.join(run_dir, "logs", "examples"))
    generator = keras.saving.load_model(first["generator"], compile=False)
    images = np.stack([s.numpy() for s, _ in cgan.make_datasets(
        dataset, presets.resolve("cgan", "tiny"), "flute", "keyboard")[1].take(2)])
    served = tf.saved_model.load(first["export"]).signatures["transform_images"](images=tf.constant(images))
    np.testing.assert_allclose(served["images"].numpy(), generator(images, training=False).numpy(), atol=1e-5)
    np.testing.assert_allclose(generator(images).numpy(), first["model"].generator(images).numpy(), atol=1e-6)

    # Rerunning with more epochs continues from the saved epoch, optimiser states included.
    second = train.train("cgan", dataset, run_dir=run_dir, preset="tiny", progress=False, epochs=2)
    assert len(second["history"]["g_loss"]) == 1  # only epoch 2 ran ...
    model = second["model"]
    assert int(model.generator_optimizer.iterations) == 2 * steps  # ... on top of epoch 1's steps
    assert int(model.discriminator_optimizer.iterations) == 2 * steps
    with open(os.path.join(run_dir, "metrics.json")) as f:
        assert json.load(f)["epoch"] == 2
    assert second["export"] == os.path.join(exported, "cgan_flute_to_keyboard", "2")


@pytest.mark.parametrize("source, target, error, message", [
    (None, "keyboard", ParameterError, "give a source and a target"),
    ("flute", "flute", ParameterError, "both 'flute'"),
    ("drums", "keyboard", ParameterError, "unknown family 'drums'"),
    ("flute", "brass", DataError, "no brass notes in split 'train'"),
])
def test_bad_families_fail_in_one_line(dataset, source, target, error, message):
    with pytest.raises(error, match=message) as info:
        cgan.make_datasets(dataset, presets.resolve("cgan", "tiny"), source=source, target=target)
    assert "\n" not in str(info.value)


def test_unknown_target_instrument_lists_the_available_ones(dataset):
    config = presets.resolve("cgan", "tiny", target_instruments="keyboard_acoustic_999")
    with pytest.raises(DataError, match="no keyboard instrument keyboard_acoustic_999.*keyboard_acoustic_"):
        cgan.make_datasets(dataset, config, source="flute", target="keyboard")


def test_cli_trains_and_reports_the_export(dataset, tmp_path):
    result = run_cli("train", "--method", "cgan", "--source", "flute", "--target", "keyboard", "--data", dataset,
                     "--preset", "tiny", "--run-dir", tmp_path / "run", "--set", f"export_dir={tmp_path / 'exp'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"export: {tmp_path / 'exp' / 'cgan_flute_to_keyboard' / '1'}" in result.stdout
    bad = run_cli("train", "--method", "cgan", "--source", "flute", "--target", "drums", "--data", dataset,
                  "--preset", "tiny", "--run-dir", tmp_path / "bad")
    assert bad.returncode == 2 and bad.stderr.startswith("Error: unknown family 'drums'")
    assert "Traceback" not in bad.stderr
    # The command line names the flags the library asks for.
    alone = run_cli("train", "--method", "cgan", "--source", "flute", "--data", dataset, "--preset", "tiny",
                    "--run-dir", tmp_path / "alone")
    assert alone.returncode == 2 and alone.stderr.strip() == ("Error: cgan translates between two families: "
                                                              "give --source and --target (e.g. flute, keyboard)")
    unjudged = run_cli("train", "--method", "cgan", "--source", "guitar", "--target", "keyboard", "--data", dataset,
                       "--preset", "tiny", "--run-dir", tmp_path / "unjudged", "--set", "select_by=judge")
    assert unjudged.returncode == 1 and unjudged.stderr.strip().endswith("add some, or use --set select_by=last")


def test_no_pairs_is_a_data_error(notes, tmp_path):
    # Flutes at one pitch, keyboards at another: nothing to pair.
    audio_dir = tmp_path / "nsynth-train" / "audio"
    audio_dir.mkdir(parents=True)
    for n in notes:
        if (n.family, n.pitch) in (("flute", 60), ("keyboard", 67)):
            shutil.copy(n.path, audio_dir)
    with pytest.raises(DataError, match="no flute/keyboard pairs with the same pitch and velocity"):
        cgan.make_datasets(str(tmp_path), presets.resolve("cgan", "tiny"), source="flute", target="keyboard")


def test_judge_selection_exports_the_best_judged_epoch(dataset, tmp_path):
    run_dir, exported = tmp_path / "run", str(tmp_path / "exported")
    first = train.train("cgan", dataset, run_dir=str(run_dir), preset="tiny", source="flute", target="keyboard",
                        progress=False, export_dir=exported, select_by="judge", epochs=2)
    scores = list(zip(first["history"]["val_judged_target"], first["history"]["val_target_probability"]))
    assert len(scores) == 2 and all(0 <= j <= 1 and 0 <= p <= 1 for j, p in scores)
    best = json.load(open(run_dir / (runs.BEST_GENERATOR_FILE + ".json")))
    assert best == first["selected"]
    assert best["epoch"] == 1 + max(range(2), key=lambda i: scores[i])  # the first of equal scores is kept
    assert (best["val_judged_target"], best["val_target_probability"]) == pytest.approx(max(scores))
    assert json.load(open(run_dir / runs.METRICS_FILE))["val_judged_target"] == pytest.approx(scores[-1][0])
    # The export is the selected generator, and says which epoch it is; `soundtransform export RUN_DIR`
    # re-exports the same one.
    assert_export_is_selected(first["export"], run_dir, runs.BEST_GENERATOR_FILE, runs.GENERATOR_FILE, best, 2,
                              exported, "cgan_flute_to_keyboard")

    # A resumed run keeps comparing against the saved best.
    second = train.train("cgan", dataset, run_dir=str(run_dir), preset="tiny", progress=False, epochs=3)
    third = second["history"]["val_judged_target"][0], second["history"]["val_target_probability"][0]
    again = json.load(open(run_dir / (runs.BEST_GENERATOR_FILE + ".json")))
    assert again["epoch"] == (3 if third > max(scores) else best["epoch"])


def test_unknown_select_by_fails_before_the_run_starts(dataset, tmp_path):
    with pytest.raises(ParameterError, match="unknown select_by 'best'; choose one of: last, judge"):
        train.train("cgan", dataset, run_dir=str(tmp_path / "run"), preset="tiny", source="flute",
                    target="keyboard", progress=False, select_by="best")
    for count in (0, "many"):
        with pytest.raises(ParameterError, match="select_notes must be a whole number of at least 1"):
            train.train("cgan", dataset, run_dir=str(tmp_path / "run"), preset="tiny", source="flute",
                        target="keyboard", progress=False, select_by="judge", select_notes=count)
    assert not (tmp_path / "run").exists()


def test_judge_selection_needs_valid_source_sounds(dataset, tmp_path):
    config = presets.resolve("cgan", "tiny", select_by="judge")
    info = {"root": dataset, "source": "guitar", "target": "keyboard"}  # the dataset has no guitars
    with pytest.raises(DataError, match="select_by=judge needs guitar sounds in the valid split"):
        cgan.callbacks(None, config, str(tmp_path), None, info)
    with pytest.raises(DataError, match="select_by=judge needs guitar sounds in the valid split"):
        train.train("cgan", dataset, run_dir=str(tmp_path / "run"), preset="tiny", source="guitar",
                    target="keyboard", progress=False, select_by="judge")
    assert not (tmp_path / "run").exists()  # refused before the run started


def _db(image):
    return (1.0 - np.asarray(image)) * -40.0  # the project's image mapping, dB re full scale


def test_augment_images_changes_level_and_adds_a_noise_floor():
    loud = np.full((1, 8, 8, 1), 1.0 - 2.0 * (-20.0) / -80.0, np.float32)  # -20 dB everywhere
    silent = -np.ones((1, 8, 8, 1), np.float32)
    np.testing.assert_allclose(augment.augment_images(loud, 0.0), loud, atol=1e-5)
    np.testing.assert_allclose(_db(augment.augment_images(loud, 6.0)), -14.0, atol=0.01)
    np.testing.assert_allclose(_db(augment.augment_images(loud, -6.0)), -26.0, atol=0.01)
    # A seeded generator: with the global one, 64 Rayleigh draws fall below -79 dB in about 8 % of runs.
    noisy = _db(augment.augment_images(silent, 0.0, -50.0, rng=tf.random.Generator.from_seed(0)))
    # Rayleigh amplitudes of RMS -50 dB have their median at sqrt(ln 2), -51.6 dB; none stays at the old floor.
    assert np.all(noisy > -79.0) and abs(np.median(noisy) - -51.6) < 3.0, np.median(noisy)
    # Well above the noise the picture hardly changes.
    assert np.abs(_db(augment.augment_images(loud, 0.0, -60.0)) - -20.0).max() < 0.1


def test_augmented_sources_change_every_epoch_targets_do_not(dataset):
    keras.utils.set_random_seed(0)  # as train.train does: plain random ops in a map would then repeat each epoch
    config = {**presets.resolve("cgan", "tiny"), "augment_gain_db": 6.0, "augment_noise_db": -50.0}
    train_ds = cgan.make_datasets(dataset, config, "flute", "keyboard")[0]
    plain = cgan.make_datasets(dataset, presets.resolve("cgan", "tiny"), "flute", "keyboard")[0]
    (s1, t1), (s2, t2), (s0, t0) = (next(iter(ds)) for ds in (train_ds, train_ds, plain))
    np.testing.assert_array_equal(t1.numpy(), t0.numpy())
    np.testing.assert_array_equal(t2.numpy(), t0.numpy())
    assert not np.allclose(s1.numpy(), s2.numpy()) and not np.allclose(s1.numpy(), s0.numpy())
    assert s1.shape == s0.shape and float(np.min(s1)) >= -1.0 and float(np.max(s1)) <= 1.0


@pytest.mark.parametrize("key, value, message", [
    ("augment_gain_db", -3.0, "augment_gain_db must be a number of dB, 0 or more, not -3.0"),
    ("augment_gain_db", "loud", "augment_gain_db must be"),
    ("augment_noise_db", 10.0, "augment_noise_db must be None or a level below 0 dB"),
    ("augment_gain_db", float("nan"), "augment_gain_db must be"),
    ("augment_gain_db", float("inf"), "augment_gain_db must be"),
    ("augment_noise_db", float("-inf"), "augment_noise_db must be"),
])
def test_bad_augment_settings_fail_before_the_run_starts(dataset, tmp_path, key, value, message):
    run_dir = tmp_path / "run"
    with pytest.raises(ParameterError, match=message):
        train.train("cgan", dataset, run_dir=str(run_dir), preset="tiny", source="flute", target="keyboard",
                    progress=False, **{key: value})
    assert not run_dir.exists()


@pytest.mark.parametrize("method, key", [
    ("cgan", "extra_sources"), ("cgan", "augment_noise_where"), ("cgan", "augment_on"), ("cgan", "phrase_hop"),
    ("cgan", "max_targets"), ("cgan", "decay_from"), ("cyclegan", "input_peak_db"), ("faster", "augment_gain_db"),
])
def test_removed_settings_are_refused_as_unknown(method, key):
    with pytest.raises(ParameterError, match=f"{method} has no setting '{key}'; its settings are: "):
        presets.resolve(method, "tiny", **{key: 1})


def test_init_from_starts_from_a_run_or_an_export(dataset, tmp_path):
    exported = str(tmp_path / "exported")
    first = train.train("cgan", dataset, run_dir=str(tmp_path / "first"), preset="tiny", source="flute",
                        target="keyboard", progress=False, export_dir=exported)
    trained = keras.saving.load_model(first["generator"], compile=False)
    # The export keeps its generator, so a shipped model can be fine-tuned from its name or folder.
    assert os.path.isfile(os.path.join(first["export"], "assets", registry.GENERATOR_CONFIG))
    config, info = presets.resolve("cgan", "tiny"), cgan.make_datasets(dataset, presets.resolve("cgan", "tiny"),
                                                                       "flute", "keyboard")[2]
    fresh = cgan.build(config, info)
    assert not all(np.array_equal(a, b) for a, b in zip(_weights(fresh.generator), _weights(trained)))
    for source in (first["generator"], str(tmp_path / "first"), first["export"]):
        started = cgan.build({**config, "init_from": source}, info)
        for a, b in zip(_weights(started.generator), _weights(trained)):
            np.testing.assert_array_equal(a, b)
    # The weight average starts where the generator starts.
    averaged = cgan.build({**config, "ema_decay": 0.9, "init_from": first["generator"]}, info)
    for a, b in zip(_weights(averaged.generator_to_export()), _weights(trained)):
        np.testing.assert_array_equal(a, b)
    # A fine-tuning run trains on from there, and records the file it started from.
    run_dir = tmp_path / "second"
    second = train.train("cgan", dataset, run_dir=str(run_dir), preset="tiny", source="flute",
                         target="keyboard", progress=False, export_dir=exported, init_from=first["export"])
    saved = json.load(open(run_dir / "config.json"))
    assert saved["config"]["init_from"] == first["export"]
    start = first["export"]
    assert saved["data"]["init_from_file"] == start
    # Its export names the start without this machine's folders.
    assert registry.read_metadata(second["export"])["training_data"]["init_from_file"] == os.path.join(
        "cgan_flute_to_keyboard", "1")
    assert second["export"].endswith(os.path.join("cgan_flute_to_keyboard", "2"))
    # A resumed run needs its own checkpoint only, not the weights it started from.
    shutil.rmtree(start)
    third = train.train("cgan", dataset, run_dir=str(run_dir), preset="tiny", progress=False, epochs=2)
    assert len(third["history"]["g_loss"]) == 1
    assert json.load(open(run_dir / "config.json"))["data"]["init_from_file"] == start


@pytest.mark.parametrize("value, error, message", [
    ("no_such_model", ParameterError, "unknown model 'no_such_model'"),
    ("{tmp}/missing.keras", DataError, "no such generator file, run folder or exported model"),
    ("{tmp}", DataError, "holds no exported model"),
    ("{wide}", ParameterError, "another architecture"),
    ("{narrow}", ParameterError, r"another architecture \(input \(\d+, \d+, 1\)"),  # same weights, other input
    ("{bare}", DataError, "was exported without its generator"),
])
def test_bad_init_from_fails_in_one_line(dataset, tmp_path, value, error, message):
    config = presets.resolve("cgan", "tiny")
    info = cgan.make_datasets(dataset, config, "flute", "keyboard")[2]
    wide, narrow = tmp_path / "wide.keras", tmp_path / "narrow.keras"
    cgan.build({**config, "ngf": 8}, info).generator.save(wide)
    cgan.build({**config, "freq_bins": config["freq_bins"] * 2}, info).generator.save(narrow)
    bare = ""
    if value == "{bare}":  # an export made before exports kept their generator
        bare = export.export_generator(cgan.build(config, info).generator, "old", base_dir=str(tmp_path / "m"))
        os.remove(os.path.join(bare, "assets", registry.GENERATOR_CONFIG))
    value = value.format(tmp=tmp_path, wide=wide, narrow=narrow, bare=bare)
    with pytest.raises(error, match=message) as caught:
        cgan.build({**config, "init_from": value}, info)
    assert "\n" not in str(caught.value)
    with pytest.raises(error, match=message):  # through train: no run folder is left to block a rerun
        train.train("cgan", dataset, run_dir=str(tmp_path / "run"), preset="tiny", source="flute",
                    target="keyboard", progress=False, init_from=value)
    assert not (tmp_path / "run").exists()


def _same_weights(dataset, config, **changes):
    """A batch, a cGAN built from ``config``, one built with ``changes`` and the same weights, and a fake."""
    train_ds, _, info = cgan.make_datasets(dataset, config, source="flute", target="keyboard")
    source, target = next(iter(batch(train_ds, config, training=False)))
    first = cgan.build(config, info)
    second = cgan.build({**config, **changes}, info)
    second.set_weights(first.get_weights())
    return train_ds, source, target, first, second, first.generator(source)


def test_energy_constraint_enters_the_generator_objective(dataset):
    config = presets.resolve("cgan", "tiny")
    train_ds, source, target, plain, weighted, fake = _same_weights(dataset, config, lambda_energy=1000.0)
    g0, gan0, l10, e0 = (float(x) for x in plain.generator_objective(source, target, fake))
    g1, gan1, l11, e1 = (float(x) for x in weighted.generator_objective(source, target, fake))
    assert e0 == e1 > 0 and (gan0, l10) == (gan1, l11)
    assert g0 == pytest.approx(gan0 + 100.0 * l10, rel=1e-5)
    assert g1 == pytest.approx(g0 + 1000.0 * e0, rel=1e-5)
    # The target's own envelope costs nothing; the term is logged by every step.
    assert float(weighted.generator_objective(source, target, target)[3]) == 0.0
    history = weighted.fit(batch(train_ds, config, training=True), epochs=1, steps_per_epoch=1, verbose=0)
    assert history.history["energy_loss"][0] > 0


def test_banded_energy_constraint_compares_each_bands_envelope(dataset):
    from soundtransform import losses

    config = {**presets.resolve("cgan", "tiny"), "lambda_energy": 10.0}
    _, source, target, one, banded, fake = _same_weights(dataset, config, energy_bands=8)
    e1 = float(one.generator_objective(source, target, fake)[3])
    e8 = float(banded.generator_objective(source, target, fake)[3])
    expected = float(tf.reduce_mean(tf.square(losses.temporal_envelope(fake, 8) - losses.temporal_envelope(target, 8))))
    assert e8 == pytest.approx(expected, rel=1e-5) and e8 > e1 > 0  # bands see what the mean over rows averages out
    assert float(banded.generator_objective(source, target, target)[3]) == 0.0
    rebuilt = cgan.CGAN.from_config(banded.get_config())
    assert rebuilt.energy_bands == 8
    with pytest.raises(ParameterError, match="energy_bands must be a whole number from 1 to 256"):
        presets.resolve("cgan", "tiny", energy_bands=0)


@pytest.mark.parametrize("value", [-1.0, float("nan"), "high", True])
def test_bad_lambda_energy_fails_before_the_run_starts(dataset, tmp_path, value):
    with pytest.raises(ParameterError, match="lambda_energy must be a number, 0 or more"):
        train.train("cgan", dataset, run_dir=str(tmp_path / "run"), preset="tiny", source="flute",
                    target="keyboard", progress=False, lambda_energy=value)
    assert not (tmp_path / "run").exists()
