import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_tone
from soundtransform import audio, export, pipeline, registry
from soundtransform.errors import DataError, ParameterError

FREQ_BINS, FRAMES, OVERLAP = 32, 32, 8


def tiny_generator(freq_bins=FREQ_BINS, frames=FRAMES, seed=0):
    """Two 3x3 convs and a tanh: a generator whose output depends on +-2 frames only."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((freq_bins, frames, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(x)
    return keras.Model(inputs, outputs, name="tiny_generator")


def identity_generator(freq_bins=FREQ_BINS, frames=FRAMES):
    inputs = keras.Input((freq_bins, frames, 1))
    return keras.Model(inputs, keras.layers.Identity()(inputs), name="identity")


def note_like(seconds, sample_rate=audio.SAMPLE_RATE, seed=0):
    """Harmonic tones with onsets and a little noise: structure in every window."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    y = np.zeros(n, np.float32)
    for start in np.arange(0.0, seconds, 0.7):
        tone = make_tone(rng.uniform(150, 900), min(1.0, seconds - start), sample_rate, decay=2.0)
        i = int(start * sample_rate)
        y[i:i + len(tone)] += tone[: n - i]
    return y + 0.003 * rng.standard_normal(n).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Two versions of a tiny model (source phase) and a Griffin-Lim export."""
    base = str(tmp_path_factory.mktemp("models"))
    generator = tiny_generator()
    meta = {"method": "test", "source": "flute", "target": "keyboard", "metrics": {"loss": 0.5}}
    first = export.export_generator(generator, "tiny", meta, base_dir=base, overlap=OVERLAP)
    second = export.export_generator(generator, "tiny", meta, base_dir=base, overlap=OVERLAP)
    gl = export.export_generator(generator, "tiny_gl", meta, base_dir=base, phase="griffin-lim", n_iter=4)
    return {"base": base, "generator": generator, "v1": first, "v2": second, "gl": gl}


def test_versions_layout_metadata_and_config(exported):
    base = exported["base"]
    assert exported["v1"] == os.path.join(base, "tiny", "1")
    assert exported["v2"] == os.path.join(base, "tiny", "2")
    assert sorted(os.listdir(os.path.join(base, "tiny"))) == ["1", "2"], "no hidden leftovers"
    meta = registry.read_metadata(exported["v2"])
    assert meta["method"] == "test" and meta["source"] == "flute" and meta["version"] == 2
    assert (meta["phase"], meta["freq_bins"], meta["frames"], meta["overlap"]) == ("source", 32, 32, OVERLAP)
    assert meta["upper_bins"] == pipeline.DEFAULT_UPPER_BINS
    assert meta["input_peak_db"] == pipeline.DEFAULT_INPUT_PEAK_DB
    assert registry.read_metadata(exported["gl"])["phase"] == "griffin-lim"
    config = open(os.path.join(base, "models.config")).read()
    for name in ("tiny", "tiny_gl"):
        assert f'name: "{name}"' in config and f'base_path: "/models/{name}"' in config
    assert config.count('model_platform: "tensorflow"') == 2
    assert registry.find_version("tiny", base) == exported["v2"]
    assert [m["name"] for m in registry.list_models(base)] == ["tiny", "tiny_gl"]


_FRESH = r"""
import sys, numpy as np, tensorflow as tf
x = np.load(sys.argv[1])
out = {}
for i, path in enumerate(sys.argv[3:]):
    model = tf.saved_model.load(path)
    out[f"w{i}"] = model.signatures["serving_default"](waveform=tf.constant(x))["waveform"].numpy()
    images = tf.zeros([1, 32, 40, 1]) - 0.5
    out[f"i{i}"] = model.signatures["transform_images"](images=images)["images"].numpy()
assert not any(m.startswith("soundtransform") for m in sys.modules), "project code was imported"
np.savez(sys.argv[2], **out)
"""


def test_fresh_tensorflow_process_matches_project_model(exported, tmp_path):
    """What TF Serving does: load with TensorFlow alone; same output as the in-process model."""
    x = np.stack([note_like(2.3), note_like(2.3, seed=1)])
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run(
        [sys.executable, "-c", _FRESH, tmp_path / "x.npy", tmp_path / "out.npz", exported["v2"], exported["gl"]],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = np.load(tmp_path / "out.npz")
    images = -0.5 * np.ones([1, 32, 40, 1], np.float32)
    for i, phase in enumerate(("source", "griffin-lim")):
        own = pipeline.build_serving_module(exported["generator"], phase=phase, n_iter=4,
                                          overlap=OVERLAP if phase == "source" else None)
        expected = own.serving_default(x)["waveform"].numpy()
        assert out[f"w{i}"].shape == x.shape
        assert np.max(np.abs(out[f"w{i}"] - expected)) <= 1e-4
        assert np.max(np.abs(out[f"i{i}"] - own.transform_images(images)["images"].numpy())) <= 1e-4
    assert np.std(out["w0"] - x) > 1e-3, "the tiny generator must change the sound"


def test_saved_model_cli_lists_signatures(exported):
    result = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir", exported["v1"], "--all"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert "signature_def['serving_default']" in text and "signature_def['transform_images']" in text
    assert "inputs['waveform'] tensor_info" in text and "outputs['waveform'] tensor_info" in text
    assert "shape: (-1, 32, -1, 1)" in text


@pytest.mark.parametrize("upper_bins", pipeline.UPPER_BINS)
def test_short_clip_matches_eager_pipeline(exported, upper_bins):
    """The graph equals audio.py + generator + audio.py written out by hand (one window)."""
    y = note_like(0.4)
    module = pipeline.build_serving_module(exported["generator"], overlap=OVERLAP, upper_bins=upper_bins,
                                         input_peak_db=None)
    got = module.serving_default(y[None])["waveform"].numpy()[0]
    image, phase = audio.waveform_to_image(np.pad(y, [0, audio.HOP_LENGTH]))
    frames = image.shape[1]
    low = tf.pad(image[None, :FREQ_BINS], [[0, 0], [0, 0], [0, FRAMES - frames], [0, 0]], constant_values=-1.0)
    out = exported["generator"](low)[0, :, :frames]
    full = tf.concat([out, image[FREQ_BINS:]], axis=0) if upper_bins == "source" else out
    expected = audio.image_to_waveform(full, len(y), phase="source", source_phase=phase).numpy()
    assert got.shape == y.shape
    assert np.max(np.abs(got - expected)) <= 1e-5


@pytest.mark.parametrize("seconds", [0.01, 1.9, 7.3])
def test_identity_generator_reproduces_input(notes, seconds):
    """No seams: with an identity generator, source-phase conversion gives the input back."""
    module = pipeline.build_serving_module(identity_generator(), overlap=OVERLAP, upper_bins="source")
    y = np.concatenate([audio.load(n.path) for n in notes[:2]])[: int(seconds * audio.SAMPLE_RATE)]
    y = y + note_like(seconds)[: len(y)]
    out = module.serving_default(y[None])["waveform"].numpy()[0]
    assert out.shape == y.shape
    assert audio.snr_db(y, out) >= 30.0


def test_long_input_equals_window_by_window():
    """Away from the cross-fades, one long call is exactly each window converted alone.

    Without level matching: with it, each window alone would be scaled to its
    own peak, the long input to the loudest window's.
    """
    module = pipeline.build_serving_module(tiny_generator(seed=3), overlap=OVERLAP, input_peak_db=None)
    hop = FRAMES - OVERLAP
    y = note_like(3.0)
    long = module.serving_default(y[None])["waveform"].numpy()[0]
    windows = (audio.samples_to_frames(len(y)) - FRAMES) // hop
    assert windows >= 5
    margin = 3  # frames: the receptive field of two 3x3 convs plus the STFT's edge frame
    for k in range(windows):
        start = k * hop * audio.HOP_LENGTH
        segment = y[start: start + audio.frames_to_samples(FRAMES)]
        alone = module.serving_default(segment[None])["waveform"].numpy()[0]
        lo = (OVERLAP + margin) * audio.HOP_LENGTH
        hi = (FRAMES - OVERLAP - margin) * audio.HOP_LENGTH
        assert np.max(np.abs(long[start + lo: start + hi] - alone[lo:hi])) <= 1e-4, f"window {k}"


def test_level_matching_converts_every_gain_alike():
    """A clip at any level converts as it would at input_peak_db dBFS, then comes back at its own level."""
    generator = tiny_generator(seed=3)
    matched = pipeline.build_serving_module(generator, overlap=OVERLAP, input_peak_db=-19.0)
    as_is = pipeline.build_serving_module(generator, overlap=OVERLAP, input_peak_db=None)
    assert matched.settings["input_peak_db"] == -19.0 and as_is.settings["input_peak_db"] is None
    y = note_like(1.5)
    y = (y * 10 ** (-19.0 / 20) / np.max(np.abs(y))).astype(np.float32)  # its peak at -19 dBFS already

    def run(module, x):
        return module.serving_default(x[None])["waveform"].numpy()[0]

    reference = run(as_is, y)
    np.testing.assert_allclose(run(matched, y), reference, atol=1e-5)
    for gain_db in (-30.0, -12.0, 15.0):
        k = np.float32(10 ** (gain_db / 20))
        out = run(matched, k * y)
        assert np.max(np.abs(out / k - reference)) <= 2e-4 * np.max(np.abs(reference)), gain_db
        # Without it the generator sees another image: the reason level matching exists.
        assert np.max(np.abs(run(as_is, k * y) / k - reference)) > 0.05 * np.max(np.abs(reference)), gain_db
    # A batch: each clip scaled to its own peak.
    both = matched.serving_default(np.stack([y, 0.1 * y]))["waveform"].numpy()
    np.testing.assert_allclose(both[1] / 0.1, both[0], atol=2e-4 * np.max(np.abs(reference)))
    # Silence is not raised to the target level: the gain is bounded by audio.MAX_LEVEL_GAIN_DB, and
    # whatever the generator makes of it comes back that much quieter (below -80 dBFS).
    silence = np.zeros(8000, np.float32)
    assert np.max(np.abs(run(matched, silence))) < 1e-4
    assert np.max(np.abs(run(matched, silence))) < np.max(np.abs(run(as_is, silence)))


def test_input_peak_db_is_checked():
    assert pipeline.check_input_peak_db("none") is None and pipeline.check_input_peak_db(" None ") is None
    assert pipeline.check_input_peak_db("-12.5") == -12.5 and pipeline.check_input_peak_db(0) == 0.0
    for bad in ("loud", 3, -100, float("nan")):
        with pytest.raises(ParameterError, match="input_peak_db"):
            pipeline.check_input_peak_db(bad)
    with pytest.raises(ParameterError, match="input_peak_db"):
        pipeline.build_serving_module(tiny_generator(), input_peak_db=6)


def test_bad_tensors_are_rejected(exported):
    model = tf.saved_model.load(exported["v1"])
    serve, images = model.signatures["serving_default"], model.signatures["transform_images"]
    for bad, message in [(np.nan, "NaN or Inf"), (np.inf, "NaN or Inf")]:
        x = np.zeros([1, 1000], np.float32)
        x[0, 10] = bad
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            serve(waveform=tf.constant(x))
    with pytest.raises(tf.errors.InvalidArgumentError, match="no samples"):
        serve(waveform=tf.zeros([1, 0]))
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        serve(waveform=tf.zeros([1000]))  # rank 1
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        images(images=tf.zeros([1, 64, 32, 1]))  # wrong number of rows
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"must lie in \[-1, 1\]"):
        images(images=tf.fill([1, 32, 32, 1], 3.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        images(images=tf.fill([1, 32, 32, 1], np.nan))
    # The in-graph checks hold also where no input signature guards the call.
    module = pipeline.build_serving_module(tiny_generator())
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="rank|batch, samples"):
        module.serving_default.python_function(tf.zeros([2, 3, 4]))


def test_wrong_kind_of_model_is_refused(tmp_path):
    inputs = keras.Input((32, 32, 1))
    classifier = keras.Model(inputs, keras.layers.Dense(11)(keras.layers.Flatten()(inputs)), name="classifier")
    with pytest.raises(ParameterError, match="not a spectrogram generator"):
        export.export_generator(classifier, "bad", base_dir=str(tmp_path))
    with pytest.raises(ParameterError, match="invalid model name"):
        export.export_generator(tiny_generator(), "../evil", base_dir=str(tmp_path))
    with pytest.raises(ParameterError, match="upper_bins"):
        export.export_generator(tiny_generator(), "x", base_dir=str(tmp_path), upper_bins="loud")
    assert not os.listdir(tmp_path)


def test_unknown_model_lists_available(exported, tmp_path):
    with pytest.raises(ParameterError, match="available: tiny, tiny_gl"):
        registry.find_version("nope", exported["base"])
    with pytest.raises(DataError, match="no exported model"):
        registry.find_version(str(tmp_path))


_EXPORT_SLOWLY = r"""
import sys, keras
from soundtransform import export, pipeline, registry
inputs = keras.Input((32, 32, 1))
x = inputs
for i in range(120):  # many layers: the SavedModel takes a while to write, even on a busy machine
    x = keras.layers.Conv2D(8 if i < 119 else 1, 3, padding="same")(x)
generator = keras.Model(inputs, x)
print("exporting", flush=True)
export.export_generator(generator, "tiny", {}, base_dir=sys.argv[1])
print("finished", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["interrupt", "kill"])
def test_interrupted_export_leaves_previous_version(tmp_path, sig):
    """Ctrl-C (an exception mid-write) or SIGKILL mid-export: no new version; the old one serves.

    The child gets the default SIGINT handling back: a shell without job
    control starts background jobs (``cmd &``, as CI runners may) with SIGINT
    ignored, and children inherit that, so Ctrl-C would never reach them.
    """
    base = str(tmp_path)
    first = export.export_generator(tiny_generator(), "tiny", {}, base_dir=base)
    model_dir = os.path.join(base, "tiny")
    proc = subprocess.Popen(
        [sys.executable, "-c", _EXPORT_SLOWLY, base],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 240
    while time.time() < deadline and not any(e.endswith(".part") for e in os.listdir(model_dir)):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.002)
    assert any(e.endswith(".part") for e in os.listdir(model_dir)), "the export never started writing"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert "finished" not in out
    assert proc.returncode != 0
    assert registry.versions(model_dir) == [1]
    assert sorted(e for e in os.listdir(model_dir) if not e.startswith(".")) == ["1"]
    if sig == signal.SIGINT:  # an exception cleans up its temporary folder
        assert os.listdir(model_dir) == ["1"], os.listdir(model_dir)
    assert registry.find_version("tiny", base) == first
    loaded = tf.saved_model.load(first)
    out = loaded.signatures["serving_default"](waveform=tf.constant(note_like(0.5)[None]))["waveform"]
    assert np.all(np.isfinite(out.numpy()))
    second = export.export_generator(tiny_generator(), "tiny", {}, base_dir=base)
    assert second == os.path.join(model_dir, "2")


def test_export_run_dir_and_models_cli(tmp_path):
    from conftest import run_cli

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tiny_generator().save(run_dir / "generator_flute_to_keyboard.keras")
    (run_dir / "config.json").write_text(json.dumps(
        {"config": {"method": "cyclegan", "preset": "tiny", "freq_bins": 32, "frames": 32,
                    "export_dir": str(tmp_path / "elsewhere")},
         "source": "flute", "target": "keyboard", "data": {"train_notes": 12, "root": str(tmp_path / "data")}}))
    (run_dir / "metrics.json").write_text(json.dumps({"epoch": 1, "cycle_loss": 0.25}))
    models = tmp_path / "models"
    result = run_cli("export", run_dir, "--models-dir", models, "--set", "note=hello")
    assert result.returncode == 0, result.stderr
    version = models / "cyclegan_flute_to_keyboard" / "1"
    assert f"exported {version}" in result.stdout
    meta = registry.read_metadata(str(version))
    assert (meta["method"], meta["source"], meta["target"], meta["note"]) == ("cyclegan", "flute", "keyboard", "hello")
    assert meta["metrics"]["cycle_loss"] == 0.25 and meta["training_data"]["train_notes"] == 12
    assert str(tmp_path) not in json.dumps(meta), "an export names no machine path"
    listing = run_cli("models", "--models-dir", models)
    assert listing.returncode == 0, listing.stderr
    assert "cyclegan_flute_to_keyboard: cyclegan, flute -> keyboard" in listing.stdout
    assert "cycle_loss 0.25" in listing.stdout and "phase source" in listing.stdout
    bad = run_cli("export", tmp_path / "nothing.keras", "--models-dir", models)
    assert bad.returncode != 0 and bad.stderr.startswith("Error:") and "Traceback" not in bad.stderr


def test_exported_version_reexports_with_its_metadata_and_settings(tmp_path):
    """An export from before level matching becomes the next version with it, the rest kept."""
    from conftest import run_cli

    base = str(tmp_path / "models")
    generator = tiny_generator(seed=5)
    meta = {"method": "cgan", "source": "flute", "target": "keyboard", "metrics": {"loss": 0.5},
            "training_data": {"train_notes": 12}}
    old = export.export_generator(generator, "tiny", meta, base_dir=base, overlap=OVERLAP, upper_bins="source",
                                  input_peak_db=None)
    assert registry.read_metadata(old)["input_peak_db"] is None  # chosen: a re-export would keep it
    path = os.path.join(old, "assets", registry.METADATA_FILE)  # as the exports before the setting wrote it
    written = json.load(open(path))
    del written["input_peak_db"]
    with open(path, "w") as f:
        json.dump(written, f)
    result = run_cli("export", old, "--models-dir", base, "--set", "why=level matching")
    assert result.returncode == 0, result.stderr[-2000:]
    new = os.path.join(base, "tiny", "2")
    before, after = registry.read_metadata(old), registry.read_metadata(new)
    for key in ("method", "source", "target", "metrics", "training_data", "overlap", "upper_bins", "phase",
                "freq_bins", "frames"):
        assert after[key] == before[key], key
    assert "input_peak_db" not in before and after["input_peak_db"] == pipeline.DEFAULT_INPUT_PEAK_DB
    assert after["reexported_from"]["version"] == 1 and after["why"] == "level matching"
    y = (0.3 * note_like(1.2)).astype(np.float32)
    own = pipeline.build_serving_module(generator, overlap=OVERLAP, upper_bins="source")
    served = tf.saved_model.load(new).signatures["serving_default"](waveform=tf.constant(y[None]))["waveform"]
    np.testing.assert_allclose(served.numpy()[0], own.serving_default(y[None])["waveform"].numpy()[0], atol=1e-5)
    # Given settings win over the version's own; a version re-exported keeps its level.
    third = export.export_run(new, base_dir=base, phase="griffin-lim", n_iter=2, input_peak_db=-12.0)
    assert (registry.read_metadata(third)["phase"], registry.read_metadata(third)["input_peak_db"]) == ("griffin-lim", -12.0)
    fourth = export.export_run(third, name="copy", base_dir=base)
    assert registry.read_metadata(fourth)["input_peak_db"] == -12.0 and fourth == os.path.join(base, "copy", "1")


def test_weights_are_stored_once_and_the_generator_comes_back(exported):
    """An export keeps the generator's weights only as SavedModel variables, and rebuilds it from them."""
    from soundtransform.training import runs

    version = exported["v1"]
    assets = sorted(os.listdir(os.path.join(version, "assets")))
    assert assets == [registry.GENERATOR_CONFIG, registry.METADATA_FILE]
    weights = exported["generator"].get_weights()
    stored = sum(w.nbytes for w in weights)
    variables = sum(os.path.getsize(os.path.join(version, "variables", f))
                    for f in os.listdir(os.path.join(version, "variables")))
    assert variables < 1.1 * stored + 4096, f"{variables} bytes of variables for {stored} bytes of weights"
    back = runs.load_exported_generator(version)
    for a, b in zip(back.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).uniform(-1, 1, (2, FREQ_BINS, FRAMES, 1)).astype(np.float32)
    np.testing.assert_allclose(back(x).numpy(), exported["generator"](x).numpy(), atol=1e-6)


def test_export_without_its_generator_is_a_clear_error(exported, tmp_path):
    import shutil

    from soundtransform.training import runs

    bare = str(tmp_path / "bare")
    shutil.copytree(exported["v1"], bare)
    os.remove(os.path.join(bare, "assets", registry.GENERATOR_CONFIG))
    with pytest.raises(DataError, match="exported without its generator"):
        runs.load_exported_generator(bare)
