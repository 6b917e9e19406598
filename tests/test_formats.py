"""ONNX and TFLite exports, the NumPy pipeline around them, and a convert path without TensorFlow.

Tolerance: a network file in its runtime, inside `soundtransform.lite`, must give
the SavedModel's waveform to within 60 dB (signal-to-difference ratio over the
whole output); the float32 runtimes differ from TensorFlow only by rounding.
"""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error, run_cli
from soundtransform import audio, convert, data, export, formats, lite, registry, spectral
from soundtransform.networks.subpixel import fold_upsampling
from soundtransform.networks.unet import UNet
from soundtransform.render import render_dataset
from test_export import note_like

MATCH_DB = 60.0  # a network file's output against the SavedModel's


def _match_db(reference, estimate):
    return audio.snr_db(np.ravel(reference), np.ravel(estimate))


def test_spectral_matches_the_tensorflow_front_end(rng):
    y = (0.3 * rng.standard_normal((2, 5000))).astype(np.float32)
    S_np, S_tf = spectral.stft(y), audio.stft(y).numpy()
    assert S_np.shape == S_tf.shape and np.max(np.abs(S_np - S_tf)) < 1e-5
    assert np.max(np.abs(spectral.istft(S_np, 5000) - audio.istft(S_tf, 5000).numpy())) < 1e-5
    image_np, _ = spectral.waveform_to_image(y, 200)
    assert np.max(np.abs(image_np - audio.waveform_to_image(y, 200)[0].numpy())) < 1e-4
    magnitude = spectral.image_to_magnitude(image_np)
    assert np.max(np.abs(magnitude - audio.image_to_magnitude(image_np).numpy())) < 1e-6
    phase = spectral.unit_phase(S_np)
    gl_np = spectral.griffin_lim(magnitude, 5000, n_iter=4, init_phase=phase)
    gl_tf = audio.griffin_lim(magnitude, 5000, n_iter=4, init_phase=np.angle(S_np)).numpy()
    assert _match_db(gl_tf, gl_np) > MATCH_DB
    gain = spectral.level_gain(y, -19.0)
    assert np.allclose(gain, audio.level_gain(y, -19.0).numpy(), rtol=1e-6)
    assert np.allclose(spectral.level_gain(y, None), 1.0)


def test_folded_upsampling_is_the_same_function(rng):
    net = UNet((32, 32, 1), ngf=4, depth=3, norm="instance", dropout=0.0)
    for w in net.weights:  # trained-looking weights, not the near-zero initialisation
        w.assign(rng.standard_normal(tuple(w.shape)).astype(np.float32) * 0.3)
    folded = fold_upsampling(net)
    x = rng.uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    assert np.max(np.abs(folded(x).numpy() - net(x, training=False).numpy())) < 1e-4
    resizes = [layer for layer in folded.layers if isinstance(layer, keras.layers.UpSampling2D)]
    assert not resizes and len(folded.weights) == len(net.weights)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A small U-Net with random weights, exported, with its ONNX and TFLite files."""
    base = str(tmp_path_factory.mktemp("models"))
    keras.utils.set_random_seed(3)
    net = UNet((64, 32, 1), ngf=4, depth=3, norm="instance", dropout=0.0)
    for w in net.weights:
        w.assign(np.random.default_rng(3).standard_normal(tuple(w.shape)).astype(np.float32) * 0.3)
    version = export.export_generator(net, "small", {"method": "cgan", "source": "flute", "target": "keyboard"},
                                      base_dir=base, upper_bins="source", overlap=8)
    files = {fmt: formats.export_format(version, fmt) for fmt in ("onnx", "tflite")}
    return version, files


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_each_format_matches_the_savedmodel(small_model, fmt):
    version, files = small_model
    assert files[fmt] == lite.network_file(version, fmt) and os.path.getsize(files[fmt]) > 1000
    reference = convert.load_model(version, runtime="savedmodel")
    model = convert.load_model(version, runtime=fmt)
    assert model.runtime == fmt and reference.runtime == "savedmodel"
    clips = np.stack([note_like(2.5, seed=1), note_like(2.5, seed=2) * 0.01])  # several windows, two levels
    assert _match_db(reference.convert_batch(clips), model.convert_batch(clips)) > MATCH_DB
    images = np.random.default_rng(0).uniform(-1, 1, (1, 64, 70, 1)).astype(np.float32)
    assert np.max(np.abs(reference.transform_images(images) - model.transform_images(images))) < 1e-4
    with pytest.raises(Exception, match="rejected its input: waveform contains NaN"):
        model.convert_batch(np.full((1, 100), np.nan, np.float32))


def test_a_copied_network_file_carries_its_settings(small_model, tmp_path):
    version, files = small_model
    onnx_copy = shutil.copy(files["onnx"], tmp_path / "copy.onnx")  # no soundtransform.json beside it
    tflite_copy = formats.export_format(version, "tflite", out=str(tmp_path / "small.tflite"))
    assert json.load(open(lite.sidecar(tflite_copy)))["overlap"] == 8
    reference = convert.load_model(version, runtime="savedmodel").convert_batch(note_like(1.0)[None])
    for path in (str(onnx_copy), tflite_copy):
        model = convert.load_model(path)
        assert model.metadata["upper_bins"] == "source" and model.metadata["overlap"] == 8
        assert _match_db(reference, model.convert_batch(note_like(1.0)[None])) > MATCH_DB


_STANDALONE = r"""
import sys
import numpy as np
images = np.load(sys.argv[2])
if sys.argv[1].endswith(".onnx"):
    import onnxruntime as ort
    runner = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    out = runner.run(None, {"images": images})[0]
else:
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=sys.argv[1])
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
assert not any(m.startswith(("soundtransform", "tensorflow", "keras")) for m in sys.modules), "project imported"
np.save(sys.argv[3], out)
"""


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_a_network_file_runs_in_its_own_runtime_alone(small_model, fmt, tmp_path):
    version, files = small_model
    images = np.random.default_rng(1).uniform(-1, 1, (2, 64, 32, 1)).astype(np.float32)
    np.save(tmp_path / "in.npy", images)
    subprocess.run([sys.executable, "-c", _STANDALONE, files[fmt], str(tmp_path / "in.npy"),
                    str(tmp_path / "out.npy")], check=True, cwd=str(tmp_path), capture_output=True)
    reference = convert.load_model(version, runtime="savedmodel").transform_images(images)
    assert np.max(np.abs(np.load(tmp_path / "out.npy") - reference)) < 1e-4


@pytest.fixture(scope="module")
def held_out_notes(tmp_path_factory):
    """One test-split flute and keyboard note each: instruments no shipped model heard."""
    root = str(tmp_path_factory.mktemp("held_out"))
    render_dataset(root, families=["flute", "keyboard"], pitches=(67,), velocities=(100,), progress=False)
    test = data.read_split(root, "test")
    return {family: audio.load(data.select(test, families=[family])[0].path) for family in ("flute", "keyboard")}


def test_every_shipped_network_file_matches_its_savedmodel(held_out_notes, tmp_path):
    names = [entry["name"] for entry in registry.list_models(registry.shipped_models_dir())]
    assert len(names) == 5
    for name in names:
        version = registry.find_version(name, registry.shipped_models_dir())
        source = registry.read_metadata(version)["source"]
        y = held_out_notes[source][None]
        reference = convert.load_model(version, runtime="savedmodel").convert_batch(y)
        shipped = convert.load_model(version)  # what convert uses: the shipped ONNX file
        assert shipped.runtime == "onnx", name
        assert _match_db(reference, shipped.convert_batch(y)) > MATCH_DB, name
    default = registry.find_version(registry.DEFAULT_MODEL, registry.shipped_models_dir())
    copy = shutil.copytree(default, tmp_path / "default" / "1")
    formats.export_format(str(copy), "tflite")
    y = held_out_notes["flute"][None]
    assert _match_db(convert.load_model(default, runtime="savedmodel").convert_batch(y),
                     convert.load_model(str(copy), runtime="tflite").convert_batch(y)) > MATCH_DB


_NO_TENSORFLOW = r"""
import sys
sys.argv = ["soundtransform", "convert"] + sys.argv[1:]
import cli
try:
    cli.cli()
except SystemExit as exc:
    code = exc.code
print("TENSORFLOW" if "tensorflow" in sys.modules else "NO-TENSORFLOW", code)
"""


def test_convert_of_a_file_and_a_folder_never_imports_tensorflow(tmp_path):
    y = note_like(3.0)
    audio.save(str(tmp_path / "note.wav"), y)
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(3):
        audio.save(str(folder / f"{i}.wav"), note_like(1.0, seed=i))
    for args in ([str(tmp_path / "note.wav"), str(tmp_path / "out.wav"), "--png"],
                 [str(tmp_path / "note.wav"), str(tmp_path / "by_note.wav"), "--by-note"],
                 [str(folder), str(tmp_path / "out")]):
        result = subprocess.run([sys.executable, "-c", _NO_TENSORFLOW, *args], capture_output=True, text=True,
                                cwd=ROOT, env={**os.environ, "SOUNDTRANSFORM_MODELS": str(tmp_path / "none")})
        assert result.stdout.split()[-2:] == ["NO-TENSORFLOW", "0"], result.stderr[-500:]
    assert len(os.listdir(tmp_path / "out")) == 3
    z = audio.load(str(tmp_path / "out.wav"))
    assert z.shape == y.shape and (tmp_path / "out.png").exists()


def test_format_errors_are_one_line(small_model, tmp_path):
    version, _ = small_model
    listed = run_cli("models", "--models-dir", os.path.dirname(os.path.dirname(version)))
    assert f"{version} (SavedModel, onnx, tflite)" in listed.stdout, listed.stdout
    assert_one_line_error(run_cli("export", version, "--format", "onnx", "--phase", "source"), 2, "--phase is fixed by the SavedModel")
    assert_one_line_error(run_cli("export", version, "--format", "tflite", "--out", tmp_path / "x.onnx"), 2,
                          "must end in .tflite")
    assert_one_line_error(run_cli("export", version, "--out", tmp_path / "x.onnx"), 2, "--out is for --format")
    assert_one_line_error(run_cli("export", str(tmp_path / "nothing"), "--format", "onnx"), 2, "nothing")
    copy = shutil.copytree(version, tmp_path / "m" / "1")
    os.remove(copy / "model.tflite")
    audio.save(str(tmp_path / "n.wav"), note_like(1.0))
    assert_one_line_error(run_cli("convert", tmp_path / "n.wav", tmp_path / "o.wav", "--model", copy,
                                  "--runtime", "tflite"), 2, "has no tflite file")
    (copy / "model.onnx").write_bytes(b"not a network")
    assert_one_line_error(run_cli("convert", tmp_path / "n.wav", tmp_path / "o.wav", "--model", copy), 1,
                          "in ONNX Runtime")
    assert not (tmp_path / "o.wav").exists()
