"""Method + preset -> datasets -> compiled model -> ``Model.fit`` -> artifacts.

Every method trains through this one loop, so every method gets the same
checkpoints, resume, progress bar and TensorBoard logs:

``RUN_DIR/config.json``
    The resolved configuration and data description.  Rerunning the same
    command resumes with it; a different method in the same folder is refused.
``RUN_DIR/backup/``
    Keras ``BackupAndRestore`` (double-checkpointed): weights, optimiser state
    and epoch, written at the end of every epoch.  After a crash the same
    command continues from the last finished epoch.
``RUN_DIR/logs/``
    TensorBoard: every loss term, plus whatever the method logs (images, audio).

Training runs on TensorFlow's own distributed engine, ``tf.distribute``:
``strategy="default"`` (one device), ``"mirrored"`` (every local device) or
``"multi-worker"`` (hosts described by ``TF_CONFIG``).  ``batch_size`` is the
global batch; the pipeline is sharded by data across workers; methods divide
their losses by the replica count (`losses.replica_scaled`) because gradients are
summed across replicas; only the chief writes checkpoints, logs and exports
(other workers keep their resume backups in a private temporary folder).
"""

import json
import os
import sys
import warnings

from soundtransform import methods, presets
from soundtransform.errors import DataError, ParameterError, check_choice
from soundtransform.fileio import write_text


def default_run_dir(method, source=None, target=None):
    """``runs/METHOD[-SOURCE-TARGET]``."""
    parts = [method] + [p for p in (source, target) if p]
    return os.path.join("runs", "-".join(parts))


STRATEGIES = ("default", "mirrored", "multi-worker")
# Settings a resumed run may take anew (`train`): what its examples are drawn
# with, when its learning rate falls and where it exports, none of which
# changes a network's shape or what its checkpoint holds.
RESUME_CHANGES = ("epochs", "augment_gain_db", "augment_noise_db", "decay_from", "export_dir")


def make_strategy(name):
    """A `tf.distribute.Strategy` by name (see the module docstring)."""
    import tensorflow as tf

    check_choice("strategy", name, STRATEGIES)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if not os.environ.get("TF_CONFIG"):
            raise ParameterError("strategy 'multi-worker' needs TF_CONFIG describing the cluster and this task")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief():
    """True unless TF_CONFIG names this task a non-chief worker."""
    try:
        task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except ValueError:
        raise ParameterError("TF_CONFIG is not valid JSON") from None
    if not task:
        return True
    kind, index = task.get("type"), int(task.get("index", 0))
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)


def batch(dataset, config, training):
    """Shuffle (training only), batch, shard by data and prefetch an unbatched pipeline."""
    import tensorflow as tf

    if training:
        dataset = dataset.shuffle(2048, seed=config.get("seed", 0), reshuffle_each_iteration=True)
        if config.get("steps_per_epoch"):
            dataset = dataset.repeat()
    dataset = dataset.batch(config["batch_size"], drop_remainder=training).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def load_config(run_dir):
    """The configuration a run was started with, or None."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def finished_epochs(run_dir):
    """How many epochs the run at ``run_dir`` has finished (its backup's count; 0 without one)."""
    try:
        with open(os.path.join(run_dir, "backup", "training_metadata.json"), encoding="utf-8") as f:
            return int(json.load(f).get("epoch", 0))
    except (OSError, ValueError, TypeError):
        return 0


def resumed_config(run_dir, saved, method, preset, overrides):
    """The configuration a run resumes with: the one it started with, plus `RESUME_CHANGES` from
    ``overrides``; any other setting that differs is refused (`ParameterError`), not silently dropped.

    A key the run's version did not have yet counts as its preset value.
    Each change is kept in the configuration's ``changes`` (the epoch it
    takes effect after, the key, the old and new values), so ``config.json``
    tells how every epoch was trained.
    """
    preset_config = presets.resolve(method, saved["config"].get("preset", preset))
    resumed = dict(saved["config"])
    changes = []
    for key, value in overrides.items():
        if value is None:
            continue
        value = json.loads(json.dumps(value))
        started = saved["config"].get(key, preset_config.get(key))
        if value == started:
            continue
        if key not in RESUME_CHANGES:
            raise ParameterError(
                f"{run_dir} resumes a run started with {key}={started!r}; only --epochs and "
                f"{', '.join(RESUME_CHANGES[1:])} can change when resuming, not {key}={value!r}; "
                "use another --run-dir")
        resumed[key] = value
        if key != "epochs":
            changes.append({"after_epoch": finished_epochs(run_dir), "key": key, "from": started, "to": value})
    if changes:
        resumed["changes"] = list(resumed.get("changes", [])) + changes
    return resumed


def train(method, data_dir, run_dir=None, preset="default", source=None, target=None,
          progress=True, strategy="default", **overrides):
    """Train ``method`` on the NSynth-layout dataset at ``data_dir``.

    Parameters
    ----------
    method : str
        A name in `methods.METHODS`.
    data_dir : str
    run_dir : str, optional
        Checkpoints, logs and artifacts; default `default_run_dir`.
    preset : str
        A name in `presets.PRESET_NAMES`.
    source, target : str, optional
        NSynth families, for methods that translate between two.
    progress : bool
        Keras' progress bar.
    strategy : {"default", "mirrored", "multi-worker"}
        The `tf.distribute` strategy.
    **overrides
        Configuration keys to change (``epochs``, ``batch_size``, ...).

    Returns
    -------
    dict with ``run_dir``, ``history`` (per-epoch logs of this call), ``model``
    (the trained training model) and the method's artifacts (chief only).
    """
    # Checked before the method's module is imported: that import starts TensorFlow (seconds).
    check_choice("method", method, tuple(methods.METHODS))
    check_choice("strategy", strategy, STRATEGIES)
    if not os.path.isdir(data_dir):
        raise DataError(f"dataset folder {data_dir} does not exist; render one with `soundtransform data render`")
    module = methods.get(method)

    import tempfile

    import keras
    run_dir = run_dir or default_run_dir(method, source, target)
    config = presets.resolve(method, preset, **overrides)
    saved = load_config(run_dir)
    if saved is not None:
        if saved["config"]["method"] != method:
            raise ParameterError(
                f"{run_dir} holds a {saved['config']['method']} run; use another --run-dir for {method}"
            )
        config = resumed_config(run_dir, saved, method, preset, overrides)
        source, target = saved.get("source"), saved.get("target")
    keras.utils.set_random_seed(config.get("seed", 0))
    distribution = make_strategy(strategy)
    chief = is_chief()
    train_ds, valid_ds, info = module.make_datasets(data_dir, config, source=source, target=target)
    build_config = config
    if saved is not None and config.get("init_from"):
        # A resumed run restores its own weights (BackupAndRestore): nothing to start from again.
        build_config = {**config, "init_from": None}
        info.update({k: v for k, v in saved.get("data", {}).items() if k == "init_from_file"})
    with distribution.scope():
        # Before the run folder exists, so a setting that build refuses leaves none.
        model = module.build(build_config, info)
    if chief:
        os.makedirs(run_dir, exist_ok=True)
        write_text(
            os.path.join(run_dir, "config.json"),
            json.dumps({"config": config, "source": source, "target": target, "data": info}, indent=1),
        )
        backup_dir = os.path.join(run_dir, "backup")
    else:
        backup_dir = os.path.join(tempfile.gettempdir(), "soundtransform-backup-" + _task_name(run_dir))
    # The backup is kept after the last epoch, so rerunning with more epochs continues.
    callbacks = [keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True, delete_checkpoint=False)]
    if chief:
        callbacks += [
            keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), write_graph=False),
            *module.callbacks(model, config, run_dir, valid_ds, info),
        ]
    verbose = (1 if sys.stderr.isatty() else 2) if progress else 0
    warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed")
    if strategy == "multi-worker":
        # Keras 3 (through 3.15) fails under MultiWorkerMirroredStrategy in
        # fit()'s symbolic pre-build, which all-reduces a data batch
        # (keras-team/keras#20585).  Our models are fully built by
        # ``module.build``, so that step has nothing to do: hide the strategy
        # from the model and let fit() find it from the surrounding scope.
        model._distribute_strategy = None
        _reduce_logs_across_workers(model)
    with distribution.scope():
        history = _fit(model, train_ds, valid_ds, config, callbacks, verbose)
    artifacts = module.finish(model, config, info, run_dir) if chief else {}
    return {"run_dir": run_dir, "history": history.history, "model": model, **artifacts}


def _reduce_logs_across_workers(model):
    """Let Keras average each step's logs over all workers.

    Under MultiWorkerMirroredStrategy, Keras reduces logs with
    ``strategy.reduce("MEAN", value, axis=0)``, which fails for the scalars a
    ``train_step`` returns.  Giving each log value a batch axis of one makes
    that reduction the global mean over workers.
    """
    import tensorflow as tf

    def wrap(step):
        def reshaped(data):
            return {k: tf.reshape(v, [1]) for k, v in step(data).items()}

        return reshaped

    model.train_step = wrap(model.train_step)
    model.test_step = wrap(model.test_step)


def _fit(model, train_ds, valid_ds, config, callbacks, verbose):
    return model.fit(
        batch(train_ds, config, training=True),
        validation_data=batch(valid_ds, config, training=False) if valid_ds is not None else None,
        epochs=config["epochs"],
        steps_per_epoch=config.get("steps_per_epoch"),
        callbacks=callbacks,
        verbose=verbose,
    )


def _task_name(run_dir):
    import hashlib

    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    digest = hashlib.sha1(os.path.abspath(run_dir).encode()).hexdigest()[:10]
    return f"{task.get('type', 'worker')}{task.get('index', 0)}-{digest}"
