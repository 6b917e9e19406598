"""Shared fixtures: a few real notes rendered once per test run.

Tests never read checked-in audio: they render real sampled instruments from the
SoundFonts with FluidSynth (as the dataset builder does) or build synthetic
signals with `make_tone`.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_FAMILIES = ("flute", "keyboard", "reed")
TEST_PITCHES = (60, 67)


# The longest test files first (whole-file times on 2 cores, longest first): with ``-n 2 --dist
# loadfile`` each worker takes the next file as it frees up, so the two finish close together
# instead of one starting a long file last.
LONGEST_FIRST = ("test_cyclegan.py", "test_cgan.py", "test_train.py", "test_faster.py", "test_average.py",
                 "test_shipped_quality.py", "test_export.py", "test_bad_input.py", "test_evaluate_phrases.py",
                 "test_recipes.py", "test_evaluate.py", "test_distributed.py", "test_train_phrases.py",
                 "test_convert.py", "test_formats.py", "test_classifier.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """A small NSynth-layout dataset: 3 families x 2 SoundFonts x 2 pitches."""
    from soundtransform.render import render_dataset

    root = str(tmp_path_factory.mktemp("nsynth"))
    render_dataset(root, families=TEST_FAMILIES, pitches=TEST_PITCHES, velocities=(100,), progress=False)
    return root


@pytest.fixture(scope="session")
def notes(dataset):
    """All notes of the small dataset, every split."""
    from soundtransform.data import SPLITS, read_split

    return [n for split in SPLITS for n in read_split(dataset, split)]


@pytest.fixture
def rng():
    return np.random.default_rng(20190903)


def make_tone(freq=440.0, seconds=1.0, sample_rate=16000, harmonics=4, decay=1.0):
    """A decaying harmonic tone, ``np.ndarray [shape=(samples,)]`` float32."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    y = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, harmonics + 1))
    return (0.3 * y * np.exp(-decay * t)).astype(np.float32)


def run_cli(*args, cwd=None, timeout=300):
    """Run the real ``soundtransform`` command; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "cli.py"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        # CI=1 as on the CI machine, where pyfluidsynth prints to stdout on import.
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"},
    )


@pytest.fixture(scope="session")
def classifier_path(tmp_path_factory):
    """A tiny (untrained) perceptual classifier saved as Faster's ``classifier`` setting."""
    import keras

    from soundtransform.networks.vgg19_audio import VGG19AudioClassifier

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("perceptual") / "perceptual.keras"
    VGG19AudioClassifier(input_shape=(32, 32, 1), width=1 / 16, dense_units=8).save(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_classifier(dataset, tmp_path_factory):
    """Path of a tiny family classifier (`presets` ``tiny``) trained for two steps on `dataset`."""
    from soundtransform.train import train

    run_dir = tmp_path_factory.mktemp("classifier")
    return train("classifier", dataset, str(run_dir), preset="tiny", progress=False)["classifier"]


def assert_one_line_error(result, code, words):
    """A CLI failure as users must see it: exit ``code``, one ``Error:`` line naming ``words``, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert words in lines[0], lines[0]


def assert_export_is_selected(version_dir, run_dir, best_file, last_file, best, last_epoch, exported, name):
    """A ``select_by="judge"`` run's export is its best-judged generator, not the last, and re-exports the same.

    ``version_dir`` is training's export, ``run_dir`` the run folder with
    ``best_file`` (the selected generator) and ``last_file``; ``best`` its
    selection record; ``soundtransform export RUN_DIR`` must give version 2
    of ``name`` in ``exported`` serving the same images.
    """
    import keras
    import tensorflow as tf

    from soundtransform import export, registry

    metadata = registry.read_metadata(version_dir)
    assert metadata["selected"] == best and metadata["generator_file"].endswith(best_file)
    generator = keras.saving.load_model(os.path.join(run_dir, best_file), compile=False)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    served = tf.saved_model.load(version_dir).signatures["transform_images"](images=tf.constant(images))
    np.testing.assert_allclose(served["images"].numpy(), generator(images, training=False).numpy(), atol=1e-5)
    last = keras.saving.load_model(os.path.join(run_dir, last_file), compile=False)
    if best["epoch"] != last_epoch:  # then the export is not the last epoch's generator
        assert not np.allclose(served["images"].numpy(), last(images, training=False).numpy(), atol=1e-5)
    again = export.export_run(str(run_dir), base_dir=exported)
    assert again.endswith(os.path.join(name, "2"))
    assert registry.read_metadata(again)["selected"] == best
    reserved = tf.saved_model.load(again).signatures["transform_images"](images=tf.constant(images))
    np.testing.assert_allclose(reserved["images"].numpy(), served["images"].numpy(), atol=1e-6)


def assert_linear_decay_survives_resume(method, dataset, tmp_path):
    """A tiny ``method`` run with ``decay_from=2`` over 3 epochs, then resumed to 4: each epoch's logged rate
    and both optimisers' last rate follow `training.callbacks.LinearDecay`, and the resume stretches the fall."""
    from soundtransform import presets, train

    run_dir, export_dir = str(tmp_path / "run"), str(tmp_path / "exported")
    base = presets.resolve(method, "tiny")["learning_rate"]
    first = train.train(method, dataset, run_dir=run_dir, preset="tiny", source="flute", target="keyboard",
                        progress=False, export_dir=export_dir, decay_from=2, epochs=3)
    # Epoch 1 at the base rate, then 2/3 of it: the last epoch trains at base / 3, never at zero.
    assert first["history"]["learning_rate"] == pytest.approx([base, base * 2 / 3, base / 3])
    for optimizer in (first["model"].generator_optimizer, first["model"].discriminator_optimizer):
        assert float(optimizer.learning_rate) == pytest.approx(base / 3)
    # Resumed with more epochs, the schedule stretches to the new end instead of keeping the restored rate.
    again = train.train(method, dataset, run_dir=run_dir, preset="tiny", progress=False, epochs=4,
                        export_dir=export_dir)
    assert again["history"]["learning_rate"] == pytest.approx([base / 4])
