"""Writing SavedModels: a generator becomes a servable, versioned model.

`export_generator` wraps a generator in the inference pipeline
(`soundtransform.pipeline`) and writes it as the next integer version of a
model, in the layout TF Serving expects (`soundtransform.registry`), then
rewrites ``models.config``.  `export_run` does the same for a training run
folder, a ``.keras`` generator, or an exported version again.

Each version is written under a hidden temporary name and renamed into place
(`fileio.atomic_dir`), so a server never sees a half-written version, and an
export that dies midway leaves the previous version servable.
"""

import json
import os
import shutil
import tempfile
import time

from soundtransform import pipeline, registry
from soundtransform.errors import ParameterError
from soundtransform.fileio import atomic_dir
from soundtransform.pipeline import DEFAULT_INPUT_PEAK_DB, DEFAULT_UPPER_BINS
from soundtransform.training import artifacts, runs

FORMAT = 1  # bumped when the signatures change incompatibly
_STALE_SECONDS = 3600  # a hidden .part folder this old is a killed export's leftover


def export_generator(generator, name, metadata=None, base_dir=None, phase="source", n_iter=32,
                     overlap=None, upper_bins=DEFAULT_UPPER_BINS, input_peak_db=DEFAULT_INPUT_PEAK_DB):
    """Export ``generator`` as the next version of model ``name``.

    Parameters
    ----------
    generator : keras.Model
        ``[batch, freq_bins, frames, 1] -> [batch, freq_bins, frames, 1]``, in [-1, 1].
    name : str
        Model name (folder and TF Serving name), e.g. ``"cgan_flute_to_keyboard"``.
    metadata : dict, optional
        Anything JSON-able the caller knows: ``method``, ``source``, ``target``,
        ``preset``, training data, metrics.  Stored, with the export settings,
        in ``assets/soundtransform.json`` and shown by ``soundtransform models``.
        ``freq_bins``/``frames`` here are used if the generator leaves them open.
    base_dir : str, optional
        Default `models_dir` (tests should pass a temporary folder).
    phase, n_iter, overlap, upper_bins, input_peak_db
        See `build_serving_module`; fixed at export time, stored in the metadata.

    Returns
    -------
    version_dir : str
        ``BASE_DIR/NAME/VERSION``, complete (written under a hidden name, then
        renamed).  ``BASE_DIR/models.config`` is rewritten to list every model.
    """
    import keras
    import tensorflow as tf

    registry.check_name(name)
    metadata = dict(metadata or {})
    base_dir = os.path.abspath(base_dir or registry.models_dir())
    module = pipeline.build_serving_module(generator, phase=phase, n_iter=n_iter, overlap=overlap,
                                  upper_bins=upper_bins, freq_bins=metadata.get("freq_bins"),
                                  frames=metadata.get("frames"), input_peak_db=input_peak_db)
    model_dir = os.path.join(base_dir, name)
    _remove_stale_parts(model_dir)
    found = registry.versions(model_dir)
    version = found[-1] + 1 if found else 1
    info = {**metadata, **module.settings, "name": name, "version": version, "format": FORMAT,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tensorflow": tf.__version__,
            "signatures": dict(pipeline.SIGNATURES)}
    text = json.dumps(info, indent=1, sort_keys=True, default=_jsonable)
    signatures = {
        "serving_default": module.serving_default.get_concrete_function(),
        "transform_images": module.transform_images.get_concrete_function(),
    }
    version_dir = os.path.join(model_dir, str(version))
    with tempfile.TemporaryDirectory() as scratch:
        asset = os.path.join(scratch, registry.METADATA_FILE)
        with open(asset, "w", encoding="utf-8") as f:
            f.write(text)
        module.metadata_file = tf.saved_model.Asset(asset)  # copied into assets/
        # The weights are stored once, as the SavedModel's variables: ``generator_weights`` lists them in
        # the generator's own order, and generator.json holds its architecture (`runs.load_exported_generator`).
        architecture = os.path.join(scratch, registry.GENERATOR_CONFIG)
        with open(architecture, "w", encoding="utf-8") as f:
            json.dump(keras.saving.serialize_keras_object(generator), f, default=_jsonable)
        module.generator_config = tf.saved_model.Asset(architecture)
        module.generator_weights = list(generator.weights)  # the generator's own variables, not copies
        with atomic_dir(version_dir) as tmp:
            tf.saved_model.save(module, tmp, signatures=signatures)
    registry.write_models_config(base_dir)
    return version_dir


def _jsonable(value):
    """numpy scalars and arrays, paths and anything else into JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _remove_stale_parts(model_dir):
    """Delete hidden ``.VERSION.*.part`` folders that killed exports left behind."""
    if not os.path.isdir(model_dir):
        return
    now = time.time()
    for entry in os.listdir(model_dir):
        path = os.path.join(model_dir, entry)
        if entry.startswith(".") and entry.endswith(".part") and os.path.isdir(path):
            if now - os.path.getmtime(path) > _STALE_SECONDS:
                shutil.rmtree(path, ignore_errors=True)


# `export_generator`'s conversion settings, recorded in every version's metadata.
EXPORT_SETTINGS = ("phase", "n_iter", "overlap", "upper_bins", "input_peak_db")
# What `export_generator` writes itself; a re-exported version's metadata keeps everything else.
_EXPORT_KEYS = EXPORT_SETTINGS + ("max_window_batch", "sample_rate", "n_fft", "hop_length", "db_floor",
                                  "max_seconds", "name", "version", "format", "created", "tensorflow", "signatures")


def export_run(path, name=None, base_dir=None, metadata=None, **options):
    """Re-export a trained run: ``RUN_DIR`` (or a ``.keras`` generator) -> a new version.

    Metadata comes from ``RUN_DIR/config.json`` (method, source, target,
    preset, data, the whole configuration), ``RUN_DIR/metrics.json`` if
    present, then ``metadata``.
    ``name`` defaults to ``METHOD_SOURCE_to_TARGET``.

    ``path`` may also be an exported version folder (``NAME/VERSION``): its
    generator is exported again as the next version of ``name`` (default: its
    own name), with its metadata, and its export settings except those given
    in ``options`` (`export_generator`'s ``phase``, ``n_iter``, ``overlap``,
    ``upper_bins``, ``input_peak_db``). A version exported before
    ``input_peak_db`` existed gets `DEFAULT_INPUT_PEAK_DB` unless one is given.
    Options that are None are left to the defaults (or the version's own),
    except ``input_peak_db=None``, which converts inputs as they are.
    """
    options = {k: v for k, v in options.items() if v is not None or k == "input_peak_db"}
    if os.path.isfile(os.path.join(os.fspath(path), "saved_model.pb")):
        return _reexport_version(os.fspath(path), name, base_dir, metadata, options)
    generator_path, run = runs.find_run_generator(path)
    config = run.get("config", {})
    info = {k: config[k] for k in ("method", "preset", "freq_bins", "frames") if k in config}
    if config:
        info["config"] = artifacts.recorded_config(config)  # as an export at the end of training records it
    for key in ("source", "target"):
        if run.get(key):
            info[key] = run[key]
    if run.get("data"):
        info["training_data"] = artifacts.training_data(run["data"])
    metrics = runs.read_metrics(os.path.dirname(os.path.abspath(generator_path)))
    if metrics:
        info["metrics"] = metrics
    info["generator_file"] = os.path.basename(generator_path)  # the file, not where it lay
    selected = runs.read_selection(generator_path)
    if selected is not None:
        info["selected"] = selected
    info.update(metadata or {})
    if name is None:
        if not (info.get("method") and info.get("source") and info.get("target")):
            raise ParameterError(f"{path} does not say its method, source and target; pass --name")
        name = f"{info['method']}_{info['source']}_to_{info['target']}"
    generator = runs.load_generator(generator_path)
    return export_generator(generator, name, info, base_dir=base_dir, **options)


def _reexport_version(version_dir, name, base_dir, metadata, options):
    old = registry.read_metadata(version_dir)
    generator = runs.load_exported_generator(version_dir)
    info = {k: v for k, v in old.items() if k not in _EXPORT_KEYS}
    info["reexported_from"] = {"name": old.get("name"), "version": old.get("version"),
                               "created": old.get("created")}
    info.update(metadata or {})
    for key in EXPORT_SETTINGS:
        if key not in options and key in old:
            options[key] = old[key]
    return export_generator(generator, name or old.get("name"), info,
                            base_dir=base_dir, **options)
