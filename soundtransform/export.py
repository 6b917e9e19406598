"""The one module that writes SavedModels: a generator becomes a servable model.

A trained generator maps spectrogram images to spectrogram images.  The export
wraps it, with the whole audio front end, into one TensorFlow graph that TF
Serving (or any TensorFlow, with no project code) runs on raw audio::

    waveform [batch, samples], 16 kHz
      -> each clip scaled so its peak is at ``input_peak_db`` dBFS (optional)
      -> centred STFT, log-magnitude image in [-1, 1]         (audio.py)
      -> lowest ``freq_bins`` rows, padded and cut into windows of ``frames``
         frames that overlap by ``overlap`` frames
      -> generator, a few windows at a time
      -> windows cross-faded back together (raised-cosine ramps)
      -> rows above ``freq_bins``: the input's own, or silent
      -> inversion with the source phase or Griffin-Lim       (audio.py)
      -> the scaling undone, so the output is as loud as the input was
    waveform [batch, samples], same length

Only TensorFlow ops are used (no tensorflow-io), so TF Serving runs it.  The
cross-fade weights of two overlapping windows sum to one, so an identity
generator gives back its input exactly: there are no seams.

Layout, as TF Serving expects (TensorFlow Model Garden's ``export_base`` does
the same)::

    BASE_DIR/models.config                 TF Serving's model_config_list
    BASE_DIR/NAME/VERSION/saved_model.pb   VERSION = 1, 2, 3 ...
    BASE_DIR/NAME/VERSION/variables/
    BASE_DIR/NAME/VERSION/assets/soundtransform.json   the metadata
    BASE_DIR/NAME/VERSION/assets/generator.keras       the generator, to fine-tune from

Each version is written under a hidden temporary name and renamed into place
(`fileio.atomic_dir`), so a server never sees a half-written version, and an
export that dies midway leaves the previous version servable.

Signatures
----------
``serving_default``
    ``waveform`` float32 ``[batch, samples]`` -> ``waveform`` float32
    ``[batch, samples]``, any length from one sample to `audio.MAX_SECONDS`.
``transform_images``
    ``images`` float32 ``[batch, freq_bins, frames_any, 1]`` in [-1, 1] ->
    ``images``, same shape; windowed like the waveform.
Both reject a tensor of the wrong rank, non-finite values, or (images) values
outside [-1, 1] with an ``InvalidArgumentError`` that says so.
"""

import json
import os
import re
import shutil
import tempfile
import time

from soundtransform.errors import DataError, ParameterError, check_choice

DEFAULT_MODEL = "cgan_flute_to_keyboard"  # what ships; $SOUNDTRANSFORM_DEFAULT_MODEL overrides
METADATA_FILE = "soundtransform.json"
GENERATOR_ASSET = "generator.keras"  # the exported generator itself, for `init_generator` (fine-tuning)
CONFIG_FILE = "models.config"
FORMAT = 1  # bumped when the signatures change incompatibly
PHASES = ("source", "griffin-lim")
UPPER_BINS = ("source", "silent")
# Measured (benchmarks/bench_convert.py, README "Rows above freq_bins"): silence is
# closer to the real target over the whole upper band, in both directions.
DEFAULT_UPPER_BINS = "silent"
# Level matching (`audio.level_gain`): each clip's peak is moved to this many dBFS
# before conversion, and back after.
DEFAULT_INPUT_PEAK_DB = -19.0
MAX_WINDOW_BATCH = 8  # windows through the generator at once, bounds memory on long inputs
_STALE_SECONDS = 3600  # a hidden .part folder this old is a killed export's leftover
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


# ------------------------------------------------------------------ layout


def models_dir():
    """Where models are exported: ``$SOUNDTRANSFORM_MODELS`` if set, else `shipped_models_dir`."""
    env = os.environ.get("SOUNDTRANSFORM_MODELS")
    return os.path.abspath(env) if env else shipped_models_dir()


def shipped_models_dir():
    """``exported_models/`` of the repository (next to ``cli.py``): the models that ship."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(root, "exported_models")


def search_dirs(base_dir=None):
    """Where model names are looked up, in order: ``[base_dir]``, or `models_dir` then `shipped_models_dir`."""
    if base_dir:
        return [os.path.abspath(base_dir)]
    dirs = [models_dir()]
    if shipped_models_dir() not in dirs:
        dirs.append(shipped_models_dir())
    return dirs


def default_model():
    """The model ``convert`` uses when none is named: ``$SOUNDTRANSFORM_DEFAULT_MODEL`` or `DEFAULT_MODEL`."""
    return os.environ.get("SOUNDTRANSFORM_DEFAULT_MODEL") or DEFAULT_MODEL


def check_name(name):
    """Raise `ParameterError` unless ``name`` can be a model folder and TF Serving name."""
    if not isinstance(name, str) or not _NAME.match(name) or name.isdigit():
        raise ParameterError(
            f"invalid model name {name!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (e.g. cgan_flute_to_keyboard)"
        )
    return name


def versions(model_dir):
    """Finished versions in ``model_dir``, ascending ``[int]`` (hidden .part folders ignored)."""
    if not os.path.isdir(model_dir):
        return []
    found = []
    for entry in os.listdir(model_dir):
        if entry.isdigit() and os.path.isfile(os.path.join(model_dir, entry, "saved_model.pb")):
            found.append(int(entry))
    return sorted(found)


def model_names(base_dir=None):
    """Names of the models in ``base_dir`` that have at least one finished version."""
    base_dir = base_dir or models_dir()
    if not os.path.isdir(base_dir):
        return []
    return sorted(
        d for d in os.listdir(base_dir)
        if not d.startswith(".") and versions(os.path.join(base_dir, d))
    )


def read_metadata(version_dir):
    """The metadata dict of one exported version (`DataError` if it has none)."""
    path = os.path.join(version_dir, "assets", METADATA_FILE)
    if not os.path.isfile(path):
        raise DataError(f"{version_dir} is not a soundtransform export (no assets/{METADATA_FILE})")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def find_version(model, base_dir=None):
    """Resolve a model name or path to one version folder.

    Parameters
    ----------
    model : str
        A name (its highest version), a ``NAME`` folder (its highest version)
        or a ``NAME/VERSION`` folder.
    base_dir : str, optional
        Look names up here only; default `search_dirs`: the user's
        ``$SOUNDTRANSFORM_MODELS`` first, then the shipped models.

    Raises
    ------
    ParameterError
        An unknown name; the message lists the available ones.
    DataError
        A folder that holds no finished version.
    """
    model = os.fspath(model)
    if os.path.isdir(model):
        if os.path.isfile(os.path.join(model, "saved_model.pb")):
            return os.path.abspath(model)
        found = versions(model)
        if not found:
            raise DataError(f"{model} holds no exported model (no saved_model.pb, no numbered versions)")
        return os.path.abspath(os.path.join(model, str(found[-1])))
    available = []
    for folder in search_dirs(base_dir):
        names = model_names(folder)
        if model in names:
            model_dir = os.path.join(folder, model)
            return os.path.join(model_dir, str(versions(model_dir)[-1]))
        available += [n for n in names if n not in available]
    where = " and ".join(search_dirs(base_dir))
    listed = ", ".join(sorted(available)) if available else "none exported yet (see `soundtransform export`)"
    raise ParameterError(f"unknown model {model!r} in {where}; available: {listed}")


def list_models(base_dir=None):
    """Every model of `search_dirs` (a user's model shadows a shipped one of the same name).

    Returns
    -------
    list of dict with ``name``, ``versions`` ([int]), ``path`` (newest version),
    ``shipped`` (bool) and ``metadata`` (dict, or None if unreadable).
    """
    out, seen = [], set()
    for folder in search_dirs(base_dir):
        for name in model_names(folder):
            if name in seen:
                continue
            seen.add(name)
            found = versions(os.path.join(folder, name))
            path = os.path.join(folder, name, str(found[-1]))
            try:
                metadata = read_metadata(path)
            except (DataError, ValueError, OSError):
                metadata = None
            out.append({"name": name, "versions": found, "path": path, "metadata": metadata,
                        "shipped": folder == shipped_models_dir()})
    return out


def write_models_config(base_dir=None, mount=None):
    """Rewrite ``BASE_DIR/models.config`` to list every exported model.

    TF Serving's text-format ``ModelServerConfig``; ``base_path`` is where
    ``BASE_DIR`` is mounted in the container (``-v $PWD/exported_models:/models``;
    default ``/models``, or what ``soundtransform serving-config --mount`` set).
    Version policies and labels set with ``soundtransform serving-config``
    (``BASE_DIR/serving.json``, see `soundtransform.serving`) are kept.
    """
    from soundtransform import serving

    base_dir = base_dir or models_dir()
    os.makedirs(base_dir, exist_ok=True)
    settings = serving.read_settings(base_dir)
    mount = (mount or settings.get("mount") or serving.DEFAULT_MOUNT).rstrip("/")
    policies = settings.get("models", {})
    lines = ["# Written by `soundtransform export`; lists every model in this folder."]
    if policies:
        lines.append(f"# Version policies and labels: {serving.SETTINGS_FILE} (`soundtransform serving-config`).")
    lines.append("model_config_list {")
    for name in model_names(base_dir):
        lines += [
            "  config {",
            f'    name: "{name}"',
            f'    base_path: "{mount}/{name}"',
            '    model_platform: "tensorflow"',
            *serving.config_lines(name, policies.get(name, {}), versions(os.path.join(base_dir, name))),
            "  }",
        ]
    lines.append("}")
    path = os.path.join(base_dir, CONFIG_FILE)
    from soundtransform.fileio import write_text

    write_text(path, "\n".join(lines) + "\n")
    return path


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


# ----------------------------------------------------------- the graph


def crossfade_weights(frames, overlap):
    """Per-frame weights of one window, ``np.ndarray [shape=(frames,)]``.

    Raised-cosine ramps over the first and last ``overlap`` frames, 1 between.
    The ramps are sampled at half-frame offsets, so a window's fade-out and the
    next one's fade-in (``sin^2 + cos^2``) sum to exactly 1 and no weight is 0.
    """
    import numpy as np

    w = np.ones(frames, np.float32)
    if overlap:
        ramp = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / overlap) ** 2
        w[:overlap] = ramp
        w[frames - overlap:] = ramp[::-1]
    return w


def build_serving_module(generator, phase="source", n_iter=32, overlap=None,
                         upper_bins=DEFAULT_UPPER_BINS, freq_bins=None, frames=None,
                         input_peak_db=DEFAULT_INPUT_PEAK_DB):
    """Wrap ``generator`` and the audio front end into a `tf.Module` with both signatures.

    Parameters
    ----------
    generator : keras.Model
        ``[batch, freq_bins, frames, 1] -> [batch, freq_bins, frames, 1]``,
        values in [-1, 1].
    phase : {"source", "griffin-lim"}
        Inversion: the input's own phase (time-aligned methods), or ``n_iter``
        Griffin-Lim iterations started from it.
    n_iter : int
        Griffin-Lim iterations (ignored for ``"source"``).
    overlap : int, frames, optional
        Overlap of consecutive windows; default ``frames // 4``.
    upper_bins : {"silent", "source"}, optional
        Rows above ``freq_bins`` (when it is below 256): silence (default,
        `DEFAULT_UPPER_BINS`: measured closer to the real target), or the
        input's own magnitudes (keeps the input's brightness, and its timbre).
    freq_bins, frames : int, optional
        Needed only when the generator's input shape leaves them open.
    input_peak_db : float or None
        Level matching: each waveform is scaled so its peak sits at this many
        dBFS before conversion (`audio.level_gain`), and
        the output is scaled back, so it keeps the input's loudness.  ``None``:
        the waveform as it is (every export before this setting existed).
        ``transform_images`` takes images as they are either way.

    Returns
    -------
    module : tf.Module
        With ``serving_default`` and ``transform_images`` tf.functions and a
        ``settings`` dict (the values above, resolved).

    Raises
    ------
    ParameterError
        A generator that does not map images to images of the same shape (a
        classifier, say), or settings out of range.
    """
    from soundtransform import audio

    upper_bins = DEFAULT_UPPER_BINS if upper_bins is None else upper_bins
    check_choice("phase", phase, PHASES)
    check_choice("upper_bins", upper_bins, UPPER_BINS)
    freq_bins, frames = _generator_shape(generator, freq_bins, frames)
    if overlap is None:
        overlap = frames // 4
    if not 0 <= int(overlap) <= frames // 2:
        raise ParameterError(f"overlap {overlap} frames is out of range; use 0 .. {frames // 2} (frames // 2)")
    if int(n_iter) < 0:
        raise ParameterError(f"n_iter {n_iter} must be >= 0")
    input_peak_db = check_input_peak_db(input_peak_db)
    settings = dict(phase=phase, n_iter=int(n_iter), overlap=int(overlap), upper_bins=upper_bins,
                    input_peak_db=input_peak_db,
                    freq_bins=freq_bins, frames=frames, max_window_batch=MAX_WINDOW_BATCH,
                    sample_rate=audio.SAMPLE_RATE, n_fft=audio.N_FFT, hop_length=audio.HOP_LENGTH,
                    db_floor=audio.DB_FLOOR, max_seconds=audio.MAX_SECONDS)
    return _build_module(generator, settings)


def check_input_peak_db(value):
    """``value`` as a float in (-100, 0] dBFS, or None ("none" too): the level matching's target peak."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"input_peak_db must be a level in dBFS (e.g. -19) or none, not {value!r}") from None
    if not -100.0 < value <= 0.0:
        raise ParameterError(f"input_peak_db {value:g} dBFS is out of range; use a level above -100 and at most 0, "
                             "or none")
    return value


def _generator_shape(generator, freq_bins=None, frames=None):
    """Check that ``generator`` maps images to same-shaped images; its (freq_bins, frames)."""
    from soundtransform import audio

    what = getattr(generator, "name", type(generator).__name__)
    try:
        in_shape = tuple(generator.input_shape)
        out_shape = tuple(generator.output_shape)
    except (AttributeError, ValueError, RuntimeError):
        raise ParameterError(f"{what} is not a built keras model with one input and one output") from None
    if len(in_shape) != 4 or in_shape[-1] != 1 or len(out_shape) != 4 or out_shape[-1] != 1:
        raise ParameterError(
            f"{what} is not a spectrogram generator: it maps {in_shape} to {out_shape}; "
            "expected [batch, freq_bins, frames, 1] to the same shape"
        )
    if any(a is not None and b is not None and a != b for a, b in zip(in_shape[1:], out_shape[1:])):
        raise ParameterError(f"{what} changes the image shape: {in_shape} -> {out_shape}")
    for key, given, built in (("freq_bins", freq_bins, in_shape[1]), ("frames", frames, in_shape[2])):
        if given is not None and built is not None and int(given) != built:
            raise ParameterError(f"{key}={given} does not match the generator's input {in_shape}")
    freq_bins = in_shape[1] or freq_bins
    frames = in_shape[2] or frames
    if freq_bins is None or frames is None:
        raise ParameterError(f"{what} leaves its image size open; pass freq_bins and frames")
    freq_bins, frames = int(freq_bins), int(frames)
    if not 1 <= freq_bins <= audio.N_FREQ or frames < 2:
        raise ParameterError(
            f"generator image size {freq_bins}x{frames} is out of range (freq_bins 1..{audio.N_FREQ}, frames >= 2)"
        )
    return freq_bins, frames


def _build_module(generator, settings):
    """A `tf.Module` holding ``generator`` and the two signature functions (closures)."""
    import tensorflow as tf

    weights = tf.constant(crossfade_weights(settings["frames"], settings["overlap"]))
    module = tf.Module(name="soundtransform")
    module.generator = generator
    module.settings = dict(settings)

    def transform_waveform(waveform):
        return {"waveform": _transform_waveform(_check_waveform(waveform, settings), generator, weights, settings)}

    def transform_images(images):
        return {"images": _windowed(_check_images(images, settings), generator, weights, settings)}

    module.serving_default = tf.function(
        transform_waveform, autograph=False,
        input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform")],
    )
    module.transform_images = tf.function(
        transform_images, autograph=False,
        input_signature=[tf.TensorSpec([None, settings["freq_bins"], None, 1], tf.float32, name="images")],
    )
    return module


def _check_waveform(waveform, s):
    """Fail once, clearly, on a bad waveform instead of returning garbage."""
    import tensorflow as tf

    max_samples = int(s["max_seconds"] * s["sample_rate"])
    checks = [
        tf.debugging.assert_rank(waveform, 2, message="waveform must be [batch, samples]"),
        tf.debugging.assert_greater(tf.shape(waveform)[-1], 0, message="waveform has no samples"),
        tf.debugging.assert_less_equal(
            tf.shape(waveform)[-1], max_samples,
            message=f"waveform is longer than {s['max_seconds']} s at {s['sample_rate']} Hz"),
    ]
    with tf.control_dependencies(checks):
        return tf.debugging.assert_all_finite(waveform, "waveform contains NaN or Inf")


def _check_images(images, s):
    import tensorflow as tf

    checks = [
        tf.debugging.assert_rank(images, 4, message="images must be [batch, freq_bins, frames, 1]"),
        tf.debugging.assert_equal(tf.shape(images)[1], s["freq_bins"],
                                  message=f"images must have {s['freq_bins']} frequency rows"),
        tf.debugging.assert_greater(tf.shape(images)[2], 0, message="images have no frames"),
    ]
    with tf.control_dependencies(checks):
        images = tf.debugging.assert_all_finite(images, "images contain NaN or Inf")
    in_range = tf.debugging.assert_less_equal(tf.reduce_max(tf.abs(images)), 1.0 + 1e-3,
                                              message="image values must lie in [-1, 1]")
    with tf.control_dependencies([in_range]):
        return tf.identity(images)


def _transform_waveform(waveform, generator, weights, s):
    """``[batch, samples]`` -> ``[batch, samples]``: image, windowed generator, inversion."""
    import tensorflow as tf

    from soundtransform import audio

    samples = tf.shape(waveform)[1]
    gain = audio.level_gain(waveform, s.get("input_peak_db"))
    waveform = waveform * gain
    # A hop of zeros at the end puts every sample under two frames; without it the
    # last (samples % HOP_LENGTH) samples would come back at the wrong gain.
    waveform = tf.pad(waveform, [[0, 0], [0, audio.HOP_LENGTH]])
    keep_upper = s["freq_bins"] < audio.N_FREQ and s["upper_bins"] == "source"
    rows = audio.N_FREQ if keep_upper else s["freq_bins"]
    full, source_phase = audio.waveform_to_image(waveform, rows)  # [B, rows, T, 1], [B, T, N_FFT/2 + 1]
    image = _windowed(full[:, : s["freq_bins"]], generator, weights, s)
    if keep_upper:
        image = tf.concat([image, full[:, s["freq_bins"]:]], axis=1)
    out = audio.image_to_waveform(image, samples + audio.HOP_LENGTH, phase=s["phase"],
                                  source_phase=source_phase, n_iter=s["n_iter"])
    return tf.ensure_shape(out[:, :samples] / gain, [None, None])


def _windowed(images, generator, weights, s):
    """The generator over images of any length: ``[B, freq_bins, T, 1]`` -> same.

    The frames are padded with silence (-1) to ``n`` windows of ``frames``
    frames, ``hop = frames - overlap`` apart; the windows' outputs are weighted
    by `crossfade_weights` and overlap-added, divided by the summed weights.
    """
    import tensorflow as tf

    f, F, overlap = s["freq_bins"], s["frames"], s["overlap"]
    hop = F - overlap
    batch, T = tf.shape(images)[0], tf.shape(images)[2]
    n = 1 + (tf.maximum(T - F, 0) + hop - 1) // hop
    length = (n - 1) * hop + F
    images = tf.pad(images, [[0, 0], [0, 0], [0, length - T], [0, 0]], constant_values=-1.0)
    windows = tf.signal.frame(images[..., 0], F, hop, axis=2)  # [B, f, n, F]
    windows = tf.transpose(windows, [0, 2, 1, 3])  # [B, n, f, F]
    out = _generate(tf.reshape(windows, [-1, f, F, 1]), generator, s)  # [B * n, f, F, 1]
    out = tf.reshape(out, [batch, n, f, F]) * weights
    out = tf.signal.overlap_and_add(tf.transpose(out, [0, 2, 1, 3]), hop)  # [B, f, length]
    norm = tf.signal.overlap_and_add(tf.tile(weights[None], [n, 1]), hop)  # [length]
    return (out / norm)[:, :, :T, None]


def _generate(windows, generator, s):
    """The generator over ``[N, f, F, 1]`` windows, at most ``max_window_batch`` at a time."""
    import tensorflow as tf

    f, F = s["freq_bins"], s["frames"]
    total = tf.shape(windows)[0]
    group = tf.maximum(tf.minimum(total, s["max_window_batch"]), 1)
    groups = (total + group - 1) // group
    windows = tf.pad(windows, [[0, groups * group - total], [0, 0], [0, 0], [0, 0]], constant_values=-1.0)
    out = tf.map_fn(
        lambda w: tf.cast(generator(w, training=False), tf.float32),
        tf.reshape(windows, [groups, group, f, F, 1]),
        fn_output_signature=tf.TensorSpec([None, f, F, 1], tf.float32),
    )
    return tf.reshape(out, [-1, f, F, 1])[:total]


# ---------------------------------------------------------------- export


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
    import tensorflow as tf

    check_name(name)
    metadata = dict(metadata or {})
    base_dir = os.path.abspath(base_dir or models_dir())
    module = build_serving_module(generator, phase=phase, n_iter=n_iter, overlap=overlap,
                                  upper_bins=upper_bins, freq_bins=metadata.get("freq_bins"),
                                  frames=metadata.get("frames"), input_peak_db=input_peak_db)
    model_dir = os.path.join(base_dir, name)
    _remove_stale_parts(model_dir)
    found = versions(model_dir)
    version = found[-1] + 1 if found else 1
    info = {**metadata, **module.settings, "name": name, "version": version, "format": FORMAT,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tensorflow": tf.__version__,
            "signatures": {
                "serving_default": "waveform float32 [batch, samples] at sample_rate -> waveform, same shape",
                "transform_images": "images float32 [batch, freq_bins, frames, 1] in [-1, 1] -> images",
            }}
    text = json.dumps(info, indent=1, sort_keys=True, default=_jsonable)
    signatures = {
        "serving_default": module.serving_default.get_concrete_function(),
        "transform_images": module.transform_images.get_concrete_function(),
    }
    from soundtransform.fileio import atomic_dir

    version_dir = os.path.join(model_dir, str(version))
    with tempfile.TemporaryDirectory() as scratch:
        asset = os.path.join(scratch, METADATA_FILE)
        with open(asset, "w", encoding="utf-8") as f:
            f.write(text)
        module.metadata_file = tf.saved_model.Asset(asset)  # copied into assets/
        kept = os.path.join(scratch, GENERATOR_ASSET)
        generator.save(kept)
        module.generator_file = tf.saved_model.Asset(kept)
        with atomic_dir(version_dir) as tmp:
            tf.saved_model.save(module, tmp, signatures=signatures)
    write_models_config(base_dir)
    return version_dir


def _jsonable(value):
    """numpy scalars and arrays, paths and anything else into JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


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
        return path, _direction(path, _read_run_info(os.path.dirname(os.path.abspath(path))))
    if not os.path.isdir(path):
        raise DataError(f"no such run folder or generator file: {path}")
    from soundtransform.methods.cgan import best_file

    run = _read_run_info(path)
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
        an exported model's name or folder (`find_version`; its
        ``assets/generator.keras``).

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
        version_dir = find_version(init_from)
        path = os.path.join(version_dir, "assets", GENERATOR_ASSET)
        if not os.path.isfile(path):
            raise DataError(f"init_from: {version_dir} was exported without its generator "
                            f"(assets/{GENERATOR_ASSET}); pass its run folder or generator .keras file")
    source = load_generator(path)
    want = [tuple(generator.input_shape[1:])] + [tuple(w.shape) for w in generator.weights]
    have = [tuple(source.input_shape[1:])] + [tuple(w.shape) for w in source.weights]
    if want != have:
        raise ParameterError(f"init_from: {path} is another architecture (input {have[0]}, {len(have) - 1} "
                             f"weights) than this run's generator (input {want[0]}, {len(want) - 1} weights); "
                             "use the same ngf, depth, freq_bins and frames")
    generator.set_weights(source.get_weights())
    return path


def _direction(generator_path, run):
    """``run`` with source and target read from a ``generator_A_to_B.keras`` file name."""
    match = re.match(r"^generator_(\w+?)_to_(\w+?)(?:_best)?\.keras$", os.path.basename(generator_path))
    if match:
        run = {**run, "source": match.group(1), "target": match.group(2)}
    return run


def _read_run_info(run_dir):
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


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
    generator_path, run = find_run_generator(path)
    config = run.get("config", {})
    info = {k: config[k] for k in ("method", "preset", "freq_bins", "frames") if k in config}
    if config:
        info["config"] = config  # the whole training configuration, as an export at the end of training has
    for key in ("source", "target"):
        if run.get(key):
            info[key] = run[key]
    if run.get("data"):
        info["training_data"] = run["data"]
    metrics = os.path.join(os.path.dirname(os.path.abspath(generator_path)), "metrics.json")
    if os.path.isfile(metrics):
        with open(metrics, encoding="utf-8") as f:
            info["metrics"] = json.load(f)
    info["generator_file"] = os.path.abspath(generator_path)
    from soundtransform.callbacks import SelectByJudge

    selected = SelectByJudge.read_best(os.path.abspath(generator_path))
    if selected is not None:
        info["selected"] = selected
    info.update(metadata or {})
    if name is None:
        if not (info.get("method") and info.get("source") and info.get("target")):
            raise ParameterError(f"{path} does not say its method, source and target; pass --name")
        name = f"{info['method']}_{info['source']}_to_{info['target']}"
    generator = load_generator(generator_path)
    return export_generator(generator, name, info, base_dir=base_dir, **options)


def _reexport_version(version_dir, name, base_dir, metadata, options):
    old = read_metadata(version_dir)
    generator_path = os.path.join(version_dir, "assets", GENERATOR_ASSET)
    if not os.path.isfile(generator_path):
        raise DataError(f"{version_dir} was exported without its generator; export its run folder instead")
    info = {k: v for k, v in old.items() if k not in _EXPORT_KEYS}
    info["reexported_from"] = {"name": old.get("name"), "version": old.get("version"),
                               "created": old.get("created")}
    info.update(metadata or {})
    for key in EXPORT_SETTINGS:
        if key not in options and key in old:
            options[key] = old[key]
    return export_generator(load_generator(generator_path), name or old.get("name"), info,
                            base_dir=base_dir, **options)


def describe(entry, default=None):
    """Lines describing one `list_models` entry, for ``soundtransform models``."""
    md = entry.get("metadata") or {}
    flags = "".join(f for f, on in ((" (default)", entry["name"] == default), (" (shipped)", entry.get("shipped")))
                    if on)
    what = " -> ".join(str(md[k]) for k in ("source", "target") if md.get(k))
    head = f"{entry['name']}{flags}: {md.get('method', 'unknown method')}"
    lines = [head + (f", {what}" if what else "")]
    if not md:
        lines.append("  (no readable soundtransform metadata)")
    else:
        lines.append(
            f"  versions {', '.join(map(str, entry['versions']))}; newest exported {md.get('created', '?')}; "
            f"image {md.get('freq_bins')}x{md.get('frames')}, overlap {md.get('overlap')} frames; "
            f"phase {md.get('phase')}" + (f" ({md.get('n_iter')} iterations)" if md.get("phase") == "griffin-lim" else "")
            + f"; rows above: {md.get('upper_bins')}"
            + (f"; inputs scaled to a {md['input_peak_db']:g} dBFS peak"
               if isinstance(md.get("input_peak_db"), (int, float)) else "; inputs as they are")
        )
        if md.get("preset"):
            lines.append(f"  preset {md['preset']}")
        data = md.get("training_data")
        if isinstance(data, dict):
            keys = ("root", "train_notes", "train_pairs", "families")
            lines.append("  trained on: " + ", ".join(f"{k} {data[k]}" for k in keys if k in data))
        metrics = md.get("metrics")
        if isinstance(metrics, dict) and metrics:
            lines.append("  metrics: " + ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(metrics.items())
                if isinstance(v, (int, float, str))))
    lines.append(f"  {entry['path']}")
    return lines
