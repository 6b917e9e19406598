"""Run folders: what a training writes, and reading it back.

A run folder (``soundtransform train --run-dir``) holds::

    RUN_DIR/config.json           the resolved configuration, source, target and data
    RUN_DIR/metrics.json          the last finished epoch's logs
    RUN_DIR/generator.keras       the generator (cgan, faster), or
    RUN_DIR/generator_A_to_B.keras   one per direction (cyclegan)
    RUN_DIR/*_best.keras          with ``select_by="judge"``: the best-judged epoch's,
    RUN_DIR/*_best.keras.json     and its epoch and score
    RUN_DIR/backup/, logs/        resume state and TensorBoard

Exports, fine-tuning (``init_from``) and ``convert`` read generators from here.
"""

import json
import os
import re

from soundtransform import registry
from soundtransform.errors import DataError, ParameterError
from soundtransform.fileio import atomic_path, write_text

GENERATOR_FILE = "generator.keras"
METRICS_FILE = "metrics.json"  # the last finished epoch's logs


def best_file(filename):
    """Where judge selection keeps the best-judged epoch of ``filename``: ``generator.keras -> generator_best.keras``."""
    stem, ext = os.path.splitext(filename)
    return f"{stem}_best{ext}"


BEST_GENERATOR_FILE = best_file(GENERATOR_FILE)


def save_generator(generator, path):
    """Write ``generator`` to ``path`` (``.keras``) atomically."""
    with atomic_path(path, suffix=".keras") as tmp:
        generator.save(tmp)


def write_metrics(run_dir, epoch, logs):
    """Record epoch ``epoch`` (0-based) and its logs as ``RUN_DIR/metrics.json``."""
    logs = {k: float(v) for k, v in (logs or {}).items()}
    write_text(os.path.join(run_dir, METRICS_FILE), json.dumps({"epoch": epoch + 1, **logs}, indent=1))


def read_metrics(run_dir):
    """The last finished epoch's logs (`write_metrics`), or ``{}``."""
    path = os.path.join(run_dir, METRICS_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_selection(path):
    """The epoch and score recorded beside a best-judged generator ``path`` (``path + ".json"``), or None."""
    record = os.fspath(path) + ".json"
    if not os.path.isfile(record):
        return None
    with open(record, encoding="utf-8") as f:
        return json.load(f)


def load_generator(path):
    """Load a generator saved as ``.keras`` (the methods' run artifacts)."""
    import keras

    _register_project_objects()
    if not os.path.isfile(path):
        raise DataError(f"no such generator file: {path}")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:  # keras raises many types for a bad archive
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot load {path} as a keras model: {first[:300]}") from None


def _register_project_objects():
    """Import the modules whose keras classes a saved generator may use."""
    import importlib
    import pkgutil

    from soundtransform import methods, networks

    names = [f"soundtransform.networks.{m.name}" for m in pkgutil.iter_modules(networks.__path__)]
    for module in ("soundtransform.layers", *names, *methods.METHODS.values()):
        try:
            importlib.import_module(module)
        except ImportError:  # a method still being written must not break loading the others
            pass


def find_run_generator(path):
    """The generator file and run configuration of a run folder or ``.keras`` path.

    A run folder (``train.py``'s ``--run-dir``) holds ``config.json`` and the
    method's generator: ``generator.keras`` (cgan, faster) or
    ``generator_SOURCE_to_TARGET.keras`` (cyclegan: the run's own direction is
    taken; pass the other file to export the reverse).  A run trained with
    ``select_by="judge"`` gives its best-judged generator (``*_best.keras``).

    Returns
    -------
    (generator_path, run_info) : (str, dict)
        ``run_info`` is ``config.json``'s content (``{}`` if there is none),
        with ``source``/``target`` taken from a ``generator_A_to_B.keras`` name.
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        if not path.endswith(".keras"):
            raise ParameterError(f"{path} is not a .keras generator file or a run folder")
        return path, _direction(path, read_run_info(os.path.dirname(os.path.abspath(path))))
    if not os.path.isdir(path):
        raise DataError(f"no such run folder or generator file: {path}")
    run = read_run_info(path)
    generators = sorted(f for f in os.listdir(path) if f.startswith("generator") and f.endswith(".keras"))
    preferred = ["generator.keras"]
    if run.get("source") and run.get("target"):
        preferred.append(f"generator_{run['source']}_to_{run['target']}.keras")
    if run.get("config", {}).get("select_by") == "judge":  # the epoch the judge chose, as training exported
        preferred = [best_file(name) for name in preferred] + preferred
    for name in preferred + generators:
        if name in generators:
            return os.path.join(path, name), _direction(name, run)
    raise DataError(f"{path} holds no generator (expected generator.keras or generator_A_to_B.keras)")


def init_generator(generator, init_from):
    """Start ``generator`` from the weights of another one of the same architecture (fine-tuning).

    Parameters
    ----------
    generator : keras.Model, built
    init_from : str
        A generator ``.keras`` file, a run folder (`find_run_generator`), or
        an exported model's name or folder (`registry.find_version`,
        `load_exported_generator`).

    Returns
    -------
    path : str
        The generator file or exported version folder the weights came from.

    Raises
    ------
    ParameterError
        The generators differ in architecture (width, depth or input size).
    DataError
        Nothing usable at ``init_from``, or an export without its generator.
    """
    init_from = os.fspath(init_from)
    if not os.path.exists(init_from) and (os.sep in init_from or init_from.endswith(".keras")):
        raise DataError(f"init_from: no such generator file, run folder or exported model: {init_from}")
    if os.path.isfile(init_from) or (os.path.isdir(init_from) and os.path.isfile(
            os.path.join(init_from, "config.json"))):
        path, _ = find_run_generator(init_from)
    else:
        path = None
    if path is None:
        path = registry.find_version(init_from)
        source = load_exported_generator(path)
    else:
        source = load_generator(path)
    want = [tuple(generator.input_shape[1:])] + [tuple(w.shape) for w in generator.weights]
    have = [tuple(source.input_shape[1:])] + [tuple(w.shape) for w in source.weights]
    if want != have:
        raise ParameterError(f"init_from: {path} is another architecture (input {have[0]}, {len(have) - 1} "
                             f"weights) than this run's generator (input {want[0]}, {len(want) - 1} weights); "
                             "use the same ngf, depth, freq_bins and frames")
    generator.set_weights(source.get_weights())
    return path


def load_exported_generator(version_dir):
    """The Keras generator of an exported version, to fine-tune, average or export again.

    Its architecture is ``assets/generator.json`` and its weights are the
    SavedModel's own variables (``generator_weights``), so an export stores
    them once.  An export that kept a ``assets/generator.keras`` copy loads
    from that.

    Raises
    ------
    DataError
        The version holds neither, or cannot be loaded.
    """
    import keras

    version_dir = os.fspath(version_dir)
    kept = os.path.join(version_dir, "assets", registry.GENERATOR_ASSET)
    if os.path.isfile(kept):
        return load_generator(kept)
    architecture = os.path.join(version_dir, "assets", registry.GENERATOR_CONFIG)
    if not os.path.isfile(architecture):
        raise DataError(f"{version_dir} was exported without its generator (no assets/{registry.GENERATOR_CONFIG}); "
                        "export its run folder instead")
    import tensorflow as tf

    _register_project_objects()
    try:
        with open(architecture, encoding="utf-8") as f:
            generator = keras.saving.deserialize_keras_object(json.load(f))
        loaded = tf.saved_model.load(version_dir)
        if hasattr(loaded, "generator_weights"):
            generator.set_weights([w.numpy() for w in loaded.generator_weights])
        else:  # an export from before generator_weights: the generator's layers by position
            _restore_by_operation(generator, os.path.join(version_dir, "variables", "variables"))
    except Exception as exc:  # a corrupt or foreign export
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot load the generator of {version_dir}: {first[:300]}") from None
    return generator


def _restore_by_operation(generator, checkpoint):
    """Set ``generator``'s weights from a SavedModel checkpoint that saved it as ``generator/_operations/N``."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(checkpoint)
    for i, operation in enumerate(generator.operations):
        for variable in operation.weights:
            attribute = "_kernel" if variable.name == "kernel" else variable.name
            variable.assign(reader.get_tensor(f"generator/_operations/{i}/{attribute}/.ATTRIBUTES/VARIABLE_VALUE"))


def _direction(generator_path, run):
    """``run`` with source and target read from a ``generator_A_to_B.keras`` file name."""
    match = re.match(r"^generator_(\w+?)_to_(\w+?)(?:_best)?\.keras$", os.path.basename(generator_path))
    if match:
        run = {**run, "source": match.group(1), "target": match.group(2)}
    return run


def read_run_info(run_dir):
    """``RUN_DIR/config.json`` (configuration, source, target, data), or ``{}``."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)
