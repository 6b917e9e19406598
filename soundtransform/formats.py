"""An exported model's network as an ONNX or TFLite file, for runtimes without TensorFlow.

The SavedModel (`soundtransform.export`) stays the server's format and the
source of every other: `export_format` rebuilds the version's Keras generator
from its own variables (`training.runs.load_exported_generator`) and writes it:

- ``onnx``: layer by layer, channels first, resize-convolutions folded
  (`soundtransform.onnx_graph`); opset 17, batch left open.  The pipeline's
  settings go in the file's metadata (key ``soundtransform``).
- ``tflite``: the folded generator (`networks.subpixel.fold_upsampling`),
  frozen and converted by TensorFlow's own converter; float32, batch left
  open (LiteRT runs one window at a time).  A TFLite file has no room for the
  settings: written outside its version folder, it gets them beside it as
  ``NAME.json``.

Either file maps ``images float32 [n, freq_bins, frames, 1]`` in [-1, 1] to
the same shape.  The STFT and the inversion stay outside: TFLite has no
inverse FFT, and neither runtime runs a loop of FFTs as fast as NumPy.
They are `soundtransform.lite` and `soundtransform.spectral`, documented in
docs/formats.md.  Files are written atomically.
"""

import json
import os

from soundtransform import lite, registry
from soundtransform.errors import DataError, ParameterError, check_choice
from soundtransform.fileio import atomic_path, write_text

FORMATS = ("savedmodel", "tflite", "onnx")
# What a network file's user needs to rebuild the pipeline around it (lite.Pipeline).
SETTINGS = ("name", "version", "method", "source", "target", "phase", "n_iter", "overlap", "upper_bins",
            "input_peak_db", "freq_bins", "frames", "max_window_batch", "sample_rate", "n_fft", "hop_length",
            "db_floor")


def export_format(model, fmt, out=None, base_dir=None):
    """Write exported ``model``'s network as ``fmt`` (``"onnx"`` or ``"tflite"``).

    Parameters
    ----------
    model : str
        An exported model's name (its newest version) or a ``NAME/VERSION`` folder.
    fmt : {"onnx", "tflite"}
    out : str, optional
        The file to write; default ``VERSION_DIR/model.onnx`` or ``model.tflite``,
        where ``convert`` finds it.
    base_dir : str, optional
        Where names are looked up (`registry.find_version`).

    Returns
    -------
    path : str, the file written.
    """
    check_choice("format", fmt, FORMATS[1:])
    version_dir = registry.find_version(model, base_dir)
    metadata = registry.read_metadata(version_dir)
    out = os.fspath(out) if out is not None else lite.network_file(version_dir, fmt)
    ext = os.path.splitext(out)[1].lower()
    if ext != "." + fmt:
        raise ParameterError(f"a {fmt} file must end in .{fmt}, not {os.path.basename(out)!r}")
    if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise DataError(f"output folder {os.path.dirname(os.path.abspath(out))} does not exist")
    from soundtransform.training import runs

    generator = runs.load_exported_generator(version_dir)
    settings = {k: metadata[k] for k in SETTINGS if k in metadata}
    settings.setdefault("version", int(os.path.basename(os.path.normpath(version_dir))))
    with atomic_path(out) as tmp:
        if fmt == "onnx":
            _write_onnx(generator, tmp, settings)
        else:
            _write_tflite(generator, metadata, tmp)
    if fmt == "tflite" and os.path.abspath(os.path.dirname(out)) != os.path.abspath(version_dir):
        write_text(lite.sidecar(out), json.dumps(settings, indent=1, sort_keys=True) + "\n")
    return out


def _write_onnx(generator, path, settings):
    from soundtransform.onnx_graph import generator_to_onnx

    proto = generator_to_onnx(generator, {lite.METADATA_KEY: json.dumps(settings, sort_keys=True)})
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())


def _write_tflite(generator, metadata, path):
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from soundtransform.networks.subpixel import fold_upsampling

    folded = fold_upsampling(generator)
    shape = [None, int(metadata["freq_bins"]), int(metadata["frames"]), 1]
    function = tf.function(lambda images: folded(images, training=False),
                           input_signature=[tf.TensorSpec(shape, tf.float32, name="images")])
    # Frozen first: the converter cannot read Keras 3 variables from a traced function.
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [convert_variables_to_constants_v2(function.get_concrete_function())])
    try:
        data = converter.convert()
    except Exception as exc:  # the converter's errors are not one type
        raise DataError(f"TFLite cannot convert this network: {str(exc).strip().splitlines()[0][:300]}") from None
    with open(path, "wb") as f:
        f.write(data)
