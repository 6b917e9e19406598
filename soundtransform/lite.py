"""Conversion without TensorFlow: an exported network file between the NumPy front end and inversion.

An export's network also exists as an ONNX file (``model.onnx``, shipped beside
every shipped SavedModel) or a TFLite file (``model.tflite``), written by
``soundtransform export --format onnx|tflite`` (`soundtransform.formats`).
Either holds the image network only: ``images float32 [n, freq_bins, frames,
1]`` in [-1, 1] -> same shape.  This module is the rest of the pipeline, step
for step what `pipeline.build_serving_module` puts in the SavedModel, in NumPy
(`soundtransform.spectral`)::

    waveform [batch, samples], 16 kHz
      -> peak moved to input_peak_db dBFS          spectral.level_gain
      -> one hop of zeros appended, centred STFT   spectral.waveform_to_image
      -> lowest freq_bins rows, windows of `frames` frames overlapping by `overlap`
      -> the network file, up to max_window_batch windows per call
      -> windows cross-faded back (pipeline.crossfade_weights)
      -> rows above freq_bins silent (or the input's, upper_bins="source")
      -> inversion with the source phase, or Griffin-Lim from it
      -> the gain undone; cut to the input's length

The settings (``phase``, ``overlap``, ...) are the export's
``assets/soundtransform.json``; an ONNX file also carries them in its
metadata (key ``soundtransform``), so a copied file is enough.  The network
runs in ONNX Runtime or LiteRT (``ai-edge-litert``), whichever the file needs.
"""

import json
import os

import numpy as np

from soundtransform import audio, registry, spectral
from soundtransform.errors import DataError, ParameterError
from soundtransform.pipeline import MAX_WINDOW_BATCH, crossfade_weights

FORMATS = registry.NETWORK_FILES  # format -> file name in a version folder
METADATA_KEY = "soundtransform"  # the ONNX metadata entry holding the settings
THREADS = 2  # the runtimes' intra-op threads; this matches the 2-core machines the figures come from


def network_file(version_dir, fmt):
    """The path of ``fmt``'s network file in ``version_dir`` (it may not exist)."""
    if fmt not in FORMATS:
        raise ParameterError(f"format {fmt!r} has no network file; use one of: {', '.join(FORMATS)}")
    return os.path.join(os.fspath(version_dir), FORMATS[fmt])


def available_format(version_dir, preferred=("onnx", "tflite")):
    """The first of ``preferred`` whose file is in ``version_dir`` and whose runtime imports; else None."""
    for fmt in preferred:
        if os.path.isfile(network_file(version_dir, fmt)) and runtime_available(fmt):
            return fmt
    return None


def runtime_available(fmt):
    """Whether ``fmt``'s runtime (onnxruntime or ai-edge-litert) is installed."""
    import importlib.util

    module = {"onnx": "onnxruntime", "tflite": "ai_edge_litert"}[fmt]
    return importlib.util.find_spec(module) is not None


class OnnxNetwork:
    """An ONNX network file in ONNX Runtime: ``__call__(images) -> images``; ``metadata`` its settings, if any."""

    def __init__(self, path, threads=THREADS):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.runner = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for unreadable files
            raise DataError(f"cannot load {path} in ONNX Runtime: {_first_line(exc)}") from None
        self.input = self.runner.get_inputs()[0].name
        props = self.runner.get_modelmeta().custom_metadata_map
        self.metadata = json.loads(props[METADATA_KEY]) if METADATA_KEY in props else None

    def __call__(self, images):
        return self.runner.run(None, {self.input: np.ascontiguousarray(images, np.float32)})[0]


class TFLiteNetwork:
    """A TFLite network file in LiteRT: ``__call__(images) -> images``, one window per invoke."""

    metadata = None  # a TFLite file carries no settings: they are the export's soundtransform.json

    def __init__(self, path, threads=THREADS):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(model_path=os.fspath(path), num_threads=threads)
            self.interpreter.allocate_tensors()
        except Exception as exc:
            raise DataError(f"cannot load {path} in LiteRT: {_first_line(exc)}") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]["index"]
        shape = list(self.input["shape"])
        if shape[0] != 1:  # a file converted with a dynamic batch: run it one window at a time
            shape[0] = 1
            self.interpreter.resize_tensor_input(self.input["index"], shape)
            self.interpreter.allocate_tensors()

    def __call__(self, images):
        images = np.ascontiguousarray(images, np.float32)
        out = np.empty_like(images)
        for i in range(len(images)):
            self.interpreter.set_tensor(self.input["index"], images[i:i + 1])
            self.interpreter.invoke()
            out[i] = self.interpreter.get_tensor(self.output)[0]
        return out


def load_network(path):
    """An `OnnxNetwork` or `TFLiteNetwork`, by the file's extension."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"no such network file: {path}")
    ext = os.path.splitext(path)[1].lower()
    fmt = {".onnx": "onnx", ".tflite": "tflite"}.get(ext)
    if fmt is None:
        raise ParameterError(f"{path} is not a network file (.onnx or .tflite)")
    if not runtime_available(fmt):
        package = {"onnx": "onnxruntime", "tflite": "ai-edge-litert"}[fmt]
        raise ParameterError(f"running {path} needs {package}: pip install {package}")
    return OnnxNetwork(path) if fmt == "onnx" else TFLiteNetwork(path)


class Pipeline:
    """The waveform pipeline around a network file, in NumPy.

    Parameters
    ----------
    network : callable
        ``images [n, freq_bins, frames, 1] -> same`` (`OnnxNetwork`, `TFLiteNetwork`).
    settings : dict
        The export's: ``phase``, ``n_iter``, ``overlap``, ``upper_bins``,
        ``input_peak_db``, ``freq_bins``, ``frames``, ``max_window_batch``.
    """

    def __init__(self, network, settings):
        self.network = network
        self.settings = dict(settings)
        s = self.settings
        for key, value in (("sample_rate", audio.SAMPLE_RATE), ("n_fft", audio.N_FFT), ("hop_length", audio.HOP_LENGTH)):
            if key in s and int(s[key]) != value:
                raise DataError(f"this model was exported with {key} {s[key]}; this version of soundtransform uses {value}")
        self.freq_bins, self.frames = int(s["freq_bins"]), int(s["frames"])
        self.overlap = int(s.get("overlap", self.frames // 4))
        self.batch = int(s.get("max_window_batch") or MAX_WINDOW_BATCH)
        self.weights = crossfade_weights(self.frames, self.overlap)
        self.times = {}  # seconds spent per stage by the last call: stft, network, inversion

    def serving_default(self, waveform):
        """``[batch, samples]`` float32 at 16 kHz -> same shape (the SavedModel's ``serving_default``)."""
        import time

        waveform = _check_waveform(waveform)
        s, samples = self.settings, waveform.shape[-1]
        t0 = time.perf_counter()
        gain = spectral.level_gain(waveform, s.get("input_peak_db"))
        padded = np.pad(waveform * gain, [(0, 0), (0, audio.HOP_LENGTH)])
        keep_upper = self.freq_bins < audio.N_FREQ and s.get("upper_bins") == "source"
        full, S = spectral.waveform_to_image(padded, audio.N_FREQ if keep_upper else self.freq_bins)
        t1 = time.perf_counter()
        image = self.transform_images(full[:, :self.freq_bins], check=False)
        t2 = time.perf_counter()
        if keep_upper:
            image = np.concatenate([image, full[:, self.freq_bins:]], axis=1)
        magnitude = spectral.image_to_magnitude(image)
        phase = spectral.unit_phase(S)
        if s.get("phase", "source") == "source":
            out = spectral.istft(magnitude * phase, samples + audio.HOP_LENGTH)
        else:
            out = spectral.griffin_lim(magnitude, samples + audio.HOP_LENGTH, int(s.get("n_iter", 32)), phase)
        out = (out[:, :samples] / gain).astype(np.float32)
        self.times = {"stft": t1 - t0, "network": t2 - t1, "inversion": time.perf_counter() - t2}
        return out

    def transform_images(self, images, check=True):
        """``[batch, freq_bins, frames_any, 1]`` in [-1, 1] -> same: windows through the network, cross-faded."""
        images = np.asarray(images, np.float32)
        if check:
            _check_images(images, self.freq_bins)
        f, F, hop = self.freq_bins, self.frames, self.frames - self.overlap
        batch, T = images.shape[0], images.shape[2]
        n = 1 + (max(T - F, 0) + hop - 1) // hop
        length = (n - 1) * hop + F
        padded = np.pad(images[..., 0], [(0, 0), (0, 0), (0, length - T)], constant_values=-1.0)
        windows = spectral.frame(padded, F, hop)  # [B, f, n, F]
        windows = np.ascontiguousarray(np.transpose(windows, (0, 2, 1, 3))).reshape(-1, f, F, 1)
        out = np.concatenate([self.network(windows[i:i + self.batch])
                              for i in range(0, len(windows), self.batch)])
        out = out.reshape(batch, n, f, F)
        if n == 1:  # one window: the cross-fade weights cancel
            return out[:, 0, :, :T, None]
        out = spectral.overlap_add(np.transpose(out * self.weights, (0, 2, 1, 3)), hop)  # [B, f, length]
        norm = spectral.overlap_add(np.tile(self.weights[None], (n, 1)), hop)
        return (out / norm)[:, :, :T, None]


def _check_waveform(waveform):
    waveform = np.asarray(waveform, np.float32)
    if waveform.ndim != 2:
        raise DataError("waveform must be [batch, samples]")
    if waveform.shape[-1] == 0:
        raise DataError("waveform has no samples")
    if waveform.shape[-1] > audio.MAX_SECONDS * audio.SAMPLE_RATE:
        raise DataError(f"waveform is longer than {audio.MAX_SECONDS} s at {audio.SAMPLE_RATE} Hz")
    if not np.all(np.isfinite(waveform)):
        raise DataError("waveform contains NaN or Inf")
    return waveform


def _check_images(images, freq_bins):
    if images.ndim != 4 or images.shape[-1] != 1:
        raise DataError("images must be [batch, freq_bins, frames, 1]")
    if images.shape[1] != freq_bins:
        raise DataError(f"images must have {freq_bins} frequency rows")
    if images.shape[2] == 0:
        raise DataError("images have no frames")
    if not np.all(np.isfinite(images)):
        raise DataError("images contain NaN or Inf")
    if np.max(np.abs(images)) > 1.0 + 1e-3:
        raise DataError("image values must lie in [-1, 1]")


def load(path, settings=None):
    """A `Pipeline` for a network file, or for a version folder's file (ONNX first, then TFLite).

    Parameters
    ----------
    path : str
        ``model.onnx`` / ``model.tflite``, or an export's version folder.
    settings : dict, optional
        The pipeline's settings; default: the version folder's
        ``assets/soundtransform.json``, the ONNX file's own metadata, or
        the ``NAME.json`` written beside a file exported elsewhere.
    """
    path = os.fspath(path)
    version_dir = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        fmt = available_format(path)
        if fmt is None:
            raise DataError(f"{path} holds no network file this machine can run ({', '.join(FORMATS.values())})")
        path = network_file(path, fmt)
    network = load_network(path)
    if settings is None:
        settings = _read_settings(version_dir) or network.metadata or _read_sidecar(path)
    if settings is None:
        raise DataError(f"{path} carries no settings, and neither assets/soundtransform.json nor "
                        f"{os.path.basename(sidecar(path))} is beside it")
    return Pipeline(network, settings)


def _read_settings(version_dir):
    try:
        return registry.read_metadata(version_dir)
    except (DataError, ParameterError, OSError):
        return None


def sidecar(path):
    """The settings file written beside a network file outside a version folder: ``NAME.json``."""
    return os.path.splitext(os.fspath(path))[0] + ".json"


def _read_sidecar(path):
    try:
        with open(sidecar(path), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _first_line(exc):
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__
