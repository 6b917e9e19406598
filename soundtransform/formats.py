"""An exported model's network as an ONNX or TFLite file, for runtimes without TensorFlow.

The SavedModel (`soundtransform.export`) stays the server's format and the
source of every other: `export_format` rebuilds the version's Keras generator
from its own variables (`training.runs.load_exported_generator`), folds its
resize-convolutions (`networks.subpixel.fold_upsampling`, the same function
at half the work), freezes it and converts it:

- ``onnx``: tf2onnx, opset 17, batch left open.  The pipeline's settings go in
  the file's metadata (key ``soundtransform``).
- ``tflite``: TensorFlow's own converter, float32, batch left open (LiteRT
  runs one window at a time).  A TFLite file has no room for the settings:
  written outside its version folder, it gets them beside it as ``NAME.json``.

Either file maps ``images float32 [n, freq_bins, frames, 1]`` in [-1, 1] to
the same shape.  The STFT and the inversion stay outside: no runtime here
runs a loop of FFTs as fast as NumPy does, and TFLite has no inverse FFT.
They are `soundtransform.lite` and `soundtransform.spectral`, documented in
docs/formats.md.  Files are written atomically.
"""

import json
import os

from soundtransform import lite, registry
from soundtransform.errors import DataError, ParameterError, check_choice
from soundtransform.fileio import atomic_path, write_text

FORMATS = ("savedmodel", "tflite", "onnx")
OPSET = 17
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
    function = frozen_network(version_dir, metadata)
    settings = {k: metadata[k] for k in SETTINGS if k in metadata}
    settings.setdefault("version", int(os.path.basename(os.path.normpath(version_dir))))
    with atomic_path(out) as tmp:
        if fmt == "onnx":
            _write_onnx(function, tmp, settings)
        else:
            _write_tflite(function, tmp)
    if fmt == "tflite" and os.path.abspath(os.path.dirname(out)) != os.path.abspath(version_dir):
        write_text(lite.sidecar(out), json.dumps(settings, indent=1, sort_keys=True) + "\n")
    return out


def frozen_network(version_dir, metadata=None):
    """The version's folded generator as a frozen concrete function ``images -> images`` (batch open)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from soundtransform.networks.subpixel import fold_upsampling
    from soundtransform.training import runs

    metadata = metadata or registry.read_metadata(version_dir)
    generator = fold_upsampling(runs.load_exported_generator(version_dir))
    shape = [None, int(metadata["freq_bins"]), int(metadata["frames"]), 1]
    function = tf.function(lambda images: generator(images, training=False),
                           input_signature=[tf.TensorSpec(shape, tf.float32, name="images")])
    return convert_variables_to_constants_v2(function.get_concrete_function())


def _write_onnx(function, path, settings):
    import logging

    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    graph_def = function.graph.as_graph_def()
    model, _ = tf2onnx.convert.from_graph_def(
        graph_def, input_names=[function.inputs[0].name], output_names=[function.outputs[0].name],
        opset=OPSET)
    _rename(model)
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = lite.METADATA_KEY, json.dumps(settings, sort_keys=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def _rename(model):
    """Name the graph's input and output ``images``, as the SavedModel's image signature does."""
    graph = model.graph
    renames = {graph.input[0].name: "images", graph.output[0].name: "images_out"}
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    graph.input[0].name, graph.output[0].name = "images", "images_out"


def _write_tflite(function, path):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    try:
        data = converter.convert()
    except Exception as exc:  # the converter's errors are not one type
        raise DataError(f"TFLite cannot convert this network: {str(exc).strip().splitlines()[0][:300]}") from None
    with open(path, "wb") as f:
        f.write(data)
