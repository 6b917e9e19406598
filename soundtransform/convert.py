"""Inference, the product: audio -> model -> audio, for arrays, files and folders.

`load_model` gives a `Converter`: an exported model (a name in
`registry.models_dir`, a model folder or a version folder), a generator file
(``.keras``, wrapped in the same graph the export writes) or a training run
folder.  ``Converter.convert(waveform, sample_rate)`` returns a waveform of the
same length and rate.  `convert_file` and `convert_folder` do files; the CLI's
``soundtransform convert`` is built on them::

    >>> import soundtransform
    >>> model = soundtransform.load_model("cgan_flute_to_keyboard")
    >>> y = model.convert(flute, sample_rate=44100)   # keyboard, 44.1 kHz
    >>> soundtransform.convert_file("flute.wav", "keyboard.wav")

Any length, sample rate and channel count goes in (channels are averaged, see
`audio.load`); the output is mono at the input's rate.  Every output is written
atomically: an existing file is replaced whole or not at all.
"""

import os

import numpy as np

from soundtransform import audio
from soundtransform.errors import DataError, ParameterError, check_choice
from soundtransform.notes import (  # noqa: F401 (part of this module's API)
    NOTE_FADE_SECONDS, NOTE_MIN_SECONDS, NOTE_MIN_STRENGTH, note_bounds, note_by_note)
from soundtransform.registry import DEFAULT_MODEL, default_model  # noqa: F401 (part of this module's API)

INPUT_EXTENSIONS = audio.AUDIO_EXTENSIONS
OUTPUT_EXTENSIONS = (".wav", ".flac", ".ogg")
RUNTIMES = ("auto", "onnx", "tflite", "savedmodel")  # auto: a network file if the version has one, else the SavedModel
METHODS = ("model", "slow", "faster", "cgan", "cyclegan")  # "model": a named export, or the default
MODEL_METHODS = ("faster", "cgan", "cyclegan")  # methods whose exported model converts: METHOD_SOURCE_to_TARGET
DEFAULT_SOURCE, DEFAULT_TARGET = "flute", "keyboard"
# Models of these methods convert note by note unless told otherwise (`note_by_note`): measured on test phrases,
# it lifts their windows judged target and keeps pitch; Faster's notes lose pitch cut apart, so it converts whole
# (docs/experiments.md, "Phrases and notes").
NOTE_BY_NOTE_METHODS = ("cgan", "cyclegan")
BATCH_SIZE = 8  # same-length files converted in one call


class Converter:
    """A loaded model: waveforms in, transformed waveforms out.

    Built by `load_model` (or `load_slow`); not usually constructed directly.

    Parameters
    ----------
    transform : callable
        ``np.ndarray [batch, samples] float32 at 16 kHz -> same shape``.
    metadata : dict
        What the export recorded (method, source, target, settings, metrics).
    path : str, optional
        Where it was loaded from.
    images : callable, optional
        ``[batch, freq_bins, frames, 1] -> same``, the model's image signature.
    """

    def __init__(self, transform, metadata, path=None, images=None, runtime="savedmodel"):
        self._transform = transform
        self.runtime = runtime
        self._images = images
        self.metadata = dict(metadata)
        self.path = path
        self.name = self.metadata.get("name") or (os.path.basename(path) if path else "model")
        self.sample_rate = int(self.metadata.get("sample_rate", audio.SAMPLE_RATE))

    def __repr__(self):
        md = self.metadata
        what = " -> ".join(str(md[k]) for k in ("source", "target") if md.get(k))
        return (f"<Converter {self.name} ({md.get('method', '?')}{', ' + what if what else ''}) "
                f"from {self.path}, {self.runtime}>")

    def convert(self, waveform, sample_rate=audio.SAMPLE_RATE):
        """Transform one waveform.

        Parameters
        ----------
        waveform : np.ndarray [shape=(samples,) or (samples, channels)], float
            Any length up to `audio.MAX_SECONDS`; channels are averaged.
        sample_rate : int, Hz

        Returns
        -------
        np.ndarray [shape=(samples,)], float32 at ``sample_rate``.
        """
        y = np.asarray(waveform, dtype=np.float32)
        if y.ndim == 2:
            y = y.mean(axis=1)
        if y.ndim != 1:
            raise ParameterError(f"waveform must be [samples] or [samples, channels], got shape {y.shape}")
        if y.size == 0:
            raise DataError("waveform has no samples")
        if not np.all(np.isfinite(y)):
            raise DataError("waveform contains NaN or infinite samples")
        if int(sample_rate) <= 0:
            raise ParameterError(f"sample_rate {sample_rate} must be a positive number of Hz")
        x = audio.resample(y, int(sample_rate), self.sample_rate)
        out = self.convert_batch(x[None])[0]
        out = audio.resample(out, self.sample_rate, int(sample_rate))
        return audio.fit_length(out, len(y))

    def convert_batch(self, waveforms):
        """Transform ``[batch, samples]`` float32 at the model's rate (16 kHz); same shape out."""
        waveforms = np.ascontiguousarray(waveforms, dtype=np.float32)
        return np.asarray(self._transform(waveforms), dtype=np.float32)

    def wrapped(self, transform, **metadata):
        """A `Converter` of this model's that runs ``transform`` (which calls this one), with more metadata."""
        wrapped = Converter(transform, {**self.metadata, **metadata}, path=self.path, images=self._images,
                            runtime=self.runtime)
        wrapped._inner = self  # keeps the model alive
        return wrapped

    def transform_images(self, images):
        """The model's image signature: ``[batch, freq_bins, frames, 1]`` in [-1, 1] -> same."""
        if self._images is None:
            raise ParameterError(f"{self.name} has no image signature")
        return np.asarray(self._images(np.asarray(images, dtype=np.float32)), dtype=np.float32)


# ----------------------------------------------------------------- loading


def load_model(model=None, base_dir=None, runtime="auto", **options):
    """Load a model for conversion.

    Parameters
    ----------
    model : str, optional
        An exported model's name (its newest version), a ``NAME`` or
        ``NAME/VERSION`` folder, a generator ``.keras`` file, a run folder, or
        an ``.onnx`` / ``.tflite`` network file (`soundtransform.formats`).
        Default: `default_model`.
    base_dir : str, optional
        Where names are looked up; default `registry.models_dir`.
    runtime : {"auto", "onnx", "tflite", "savedmodel"}
        What runs an exported version: its ONNX or TFLite network file in
        ONNX Runtime or LiteRT, with the pipeline in NumPy (`soundtransform.lite`,
        no TensorFlow import), or the SavedModel in TensorFlow.  ``"auto"``:
        the ONNX file if the version has one, else the SavedModel.  Generator
        files and run folders always run in TensorFlow.
    **options
        For ``.keras`` files and run folders only: `pipeline.build_serving_module`'s
        ``phase``, ``n_iter``, ``overlap``, ``upper_bins``, ``input_peak_db`` (an export fixed them).

    Raises
    ------
    ParameterError
        An unknown name (the message lists the available ones), or a model that
        is not a spectrogram generator.
    DataError
        A folder or file that holds no usable model.
    """
    from soundtransform import registry

    check_choice("runtime", runtime, RUNTIMES)
    named_default = model is None
    model = os.fspath(model) if model is not None else default_model()
    is_file = os.path.isfile(model)
    is_run = os.path.isdir(model) and not os.path.isfile(os.path.join(model, "saved_model.pb")) \
        and not registry.versions(model) and os.path.isfile(os.path.join(model, "config.json"))
    if is_file and model.lower().endswith((".onnx", ".tflite")):
        if options or runtime not in ("auto", os.path.splitext(model)[1][1:].lower()):
            raise ParameterError(f"{model} is a network file: it runs in its own runtime with its export's settings")
        return _from_network(None, model, os.path.splitext(model)[1][1:].lower())
    if is_file or is_run:
        if is_file and not model.endswith(".keras"):
            raise ParameterError(f"{model} is not a model: give an exported model's name or folder, "
                                 "a generator .keras file, a run folder or an .onnx/.tflite network file")
        if runtime not in ("auto", "savedmodel"):
            raise ParameterError(f"{model} runs in TensorFlow only; runtime {runtime!r} is for exported models")
        return _from_generator(model, **options)
    if options:
        raise ParameterError(f"{', '.join(sorted(options))} are fixed at export time; "
                             "re-export the model to change them")
    try:
        version_dir = registry.find_version(model, base_dir)
    except ParameterError as exc:
        if named_default:
            raise ParameterError(
                f"the default model {model!r} is not exported yet: train and export it "
                f"(`soundtransform export RUN_DIR --name {model}`) or pass --model NAME; "
                f"{str(exc).split('; ', 1)[-1]}"
            ) from None
        raise
    return _from_version(version_dir, runtime)


def _from_version(version_dir, runtime="auto"):
    from soundtransform import lite

    fmt = lite.available_format(version_dir, ("onnx",)) if runtime == "auto" else runtime
    if fmt in (None, "savedmodel"):
        return _from_saved_model(version_dir)
    path = lite.network_file(version_dir, fmt)
    if not os.path.isfile(path):
        raise ParameterError(f"{version_dir} has no {fmt} file; write it with "
                             f"`soundtransform export {version_dir} --format {fmt}`")
    return _from_network(version_dir, path, fmt)


def _from_network(version_dir, path, fmt):
    """An exported version's network file, in the NumPy pipeline (`soundtransform.lite`)."""
    from soundtransform import lite, registry

    metadata = registry.read_metadata(version_dir) if version_dir else None
    pipeline = lite.load(path, settings=metadata)
    metadata = metadata or pipeline.settings

    def checked(fn):
        def run(x):
            try:
                return fn(x)
            except DataError as exc:
                raise DataError(f"the model rejected its input: {exc}") from None
        return run

    converter = Converter(checked(pipeline.serving_default), metadata, path=version_dir or os.path.abspath(path),
                          images=checked(pipeline.transform_images), runtime=fmt)
    converter.pipeline = pipeline
    return converter


def _from_saved_model(version_dir):
    from soundtransform import registry

    metadata = registry.read_metadata(version_dir)
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(version_dir)
    except Exception as exc:  # a corrupt or foreign SavedModel
        raise DataError(f"cannot load {version_dir}: {_first_line(exc)}") from None
    waveform_fn = loaded.signatures.get("serving_default")
    images_fn = loaded.signatures.get("transform_images")
    if waveform_fn is None:
        raise DataError(f"{version_dir} has no serving_default signature")

    def transform(x):
        return _run(lambda: waveform_fn(waveform=tf.constant(x))["waveform"].numpy())

    def images(x):
        return _run(lambda: images_fn(images=tf.constant(x))["images"].numpy())

    converter = Converter(transform, metadata, path=version_dir, images=images if images_fn is not None else None)
    converter._loaded = loaded  # keeps the restored variables alive
    return converter


def _from_generator(path, **options):
    """A ``.keras`` generator or run folder, wrapped in the export's graph without writing it."""
    from soundtransform import pipeline
    from soundtransform.training import runs

    generator_path, run = runs.find_run_generator(path)
    config = run.get("config", {})
    generator = runs.load_generator(generator_path)
    module = pipeline.build_serving_module(generator, freq_bins=config.get("freq_bins"),
                                         frames=config.get("frames"), **options)
    metadata = {k: config[k] for k in ("method", "preset") if k in config}
    metadata.update({k: run[k] for k in ("source", "target") if run.get(k)})
    metadata.update(module.settings)
    metadata["name"] = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]

    def transform(x):
        return _run(lambda: module.serving_default(x)["waveform"].numpy())

    def images(x):
        return _run(lambda: module.transform_images(x)["images"].numpy())

    converter = Converter(transform, metadata, path=os.path.abspath(generator_path), images=images)
    converter.module = module
    return converter


def load_slow(style, **options):
    """A `Converter` that runs Slow style transfer towards the timbre of ``style``.

    Parameters
    ----------
    style : str or np.ndarray [shape=(samples,)] at 16 kHz
        The style sound (a file path or a waveform).
    **options
        `soundtransform.methods.slow.stylize` options (``steps``, ``preset``,
        ``classifier`` ...).
    """
    if style is None:
        raise ParameterError("method 'slow' needs a style sound (a file or a waveform)")
    style_path = None
    if isinstance(style, (str, os.PathLike)):
        style_path = os.fspath(style)
        style = audio.load(style_path, require_sound=True)
    from soundtransform.methods import slow  # after the style is checked: it brings in TensorFlow (seconds)

    options.setdefault("progress", False)

    def transform(x):
        return np.stack([slow.stylize(y, style, **options) for y in x])

    metadata = {"name": "slow", "method": "slow", "style": style_path or "array", **{
        k: v for k, v in options.items() if isinstance(v, (int, float, str))}}
    return Converter(transform, metadata, path=style_path)


def _run(fn):
    """Run a graph call; its assertion failures become one-line `DataError`s."""
    import tensorflow as tf

    try:
        return fn()
    except tf.errors.InvalidArgumentError as exc:
        raise DataError(f"the model rejected its input: {_assert_message(exc)}") from None


def _assert_message(exc):
    """The human part of a failed ``tf.debugging`` assertion's message."""
    text = getattr(exc, "message", str(exc))
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Graph execution error", "Detected at node", "[[", "File ", "<")) \
                and not line.endswith(":"):
            if line.startswith("assertion failed: ["):  # tf.debugging.assert_*: "[message] [Condition ...]"
                line = line[len("assertion failed: ["):].split("] [Condition", 1)[0]
            return line[:300]
    return _first_line(exc)


def _first_line(exc):
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# ------------------------------------------------------------------- files


def converter_for(model=None, method="model", style=None, converter=None, by_note=None, source=None, target=None,
                  **options):
    """The `Converter` that `convert_file` and `convert_folder` use: see `convert_file` for the arguments."""
    if by_note is not False:
        if by_note and method == "slow":
            raise ParameterError("converting note by note is for models; method 'slow' converts the whole clip")
        whole = converter_for(model, method, style, converter, False, source, target, **options)
        if by_note:
            return note_by_note(whole)
        # by default, the models that convert melodies better note by note, where a clip is a melody
        if converter is None and whole.metadata.get("method") in NOTE_BY_NOTE_METHODS:
            return note_by_note(whole, melodies_only=True)
        return whole
    if converter is not None:
        return converter
    check_choice("method", method, METHODS)
    if (source is not None or target is not None) and method not in MODEL_METHODS:
        raise ParameterError(f"a source and target pick the model of a method ({', '.join(MODEL_METHODS)}); "
                             f"method {method!r} does not take them")
    if method == "slow":
        if model is not None:
            raise ParameterError("method 'slow' takes a style sound, not a model")
        if "runtime" in options:
            raise ParameterError("method 'slow' runs in TensorFlow; runtime is for exported models")
        return load_slow(style, **options)
    if style is not None:
        raise ParameterError("a style sound is for method 'slow'; a model brings its own target sound")
    slow_only = sorted(key for key in ("steps", "energy_bands") if key in options)
    if slow_only:
        raise ParameterError(f"{' and '.join(slow_only)} {'are' if len(slow_only) > 1 else 'is'} for method 'slow'")
    if method in MODEL_METHODS:
        if model is not None:
            raise ParameterError(f"method {method!r} picks its own model; name a model or a method, not both")
        model = method_model(method, source or DEFAULT_SOURCE, target or DEFAULT_TARGET)
    return load_model(model, **options)


def method_model(method, source=DEFAULT_SOURCE, target=DEFAULT_TARGET, base_dir=None):
    """The name of ``method``'s exported model from ``source`` to ``target``: ``METHOD_SOURCE_to_TARGET``.

    Raises
    ------
    ParameterError
        No such model among the user's and the shipped models; the message
        lists the directions that ``method`` has.
    """
    from soundtransform import registry

    check_choice("method", method, MODEL_METHODS)
    name = f"{method}_{source}_to_{target}"
    entries = registry.list_models(base_dir)
    if any(entry["name"] == name for entry in entries):
        return name
    have = sorted(entry["name"] for entry in entries if entry["name"].startswith(method + "_"))
    directions = [n[len(method) + 1:].replace("_to_", " -> ") for n in have if "_to_" in n]
    raise ParameterError(f"no {method} model for {source} -> {target}; {method} converts: "
                         f"{', '.join(directions) or 'nothing yet (train and export one)'}")


def _check_output(path):
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in OUTPUT_EXTENSIONS:
        raise ParameterError(f"output {path} must end in one of: {', '.join(OUTPUT_EXTENSIONS)}")
    return os.fspath(path)


def _png_path(out_path):
    return os.path.splitext(out_path)[0] + ".png"


def input_rate(path):
    """The sample rate of the audio file at ``path``, Hz."""
    import soundfile as sf

    return int(sf.info(path).samplerate)


def _write(converter, in_path, out_path, y16, out16, rate, png):
    """Save ``out16`` (16 kHz) at the input's ``rate`` and, with ``png``, the before/after picture."""
    length = int(round(len(y16) * rate / converter.sample_rate))
    out = audio.fit_length(audio.resample(out16, converter.sample_rate, rate), length)
    audio.save(out_path, out, rate)
    if png:
        from soundtransform import plot, spectral

        before, _ = spectral.waveform_to_image(y16)
        after, _ = spectral.waveform_to_image(out16)
        plot.save_spectrograms(_png_path(out_path), [before, after],
                               titles=[f"input: {os.path.basename(in_path)}", f"output: {converter.name}"])
    return out_path


def convert_file(in_path, out_path, model=None, method="model", style=None, png=False, converter=None,
                 overwrite=False, **options):
    """Convert one audio file.

    Parameters
    ----------
    in_path : str
        Any format, rate, channel count and length `audio.load` reads.
    out_path : str
        ``.wav``, ``.flac`` or ``.ogg``; or an existing folder (then the output
        is named after the input).  Mono, at the input's sample rate, the
        input's duration.
    model : str, optional
        See `load_model`; default `default_model`.
    method : {"model", "slow", "faster", "cgan", "cyclegan"}
        ``"model"``: ``model``, or the default; ``"slow"`` optimises the
        spectrogram towards ``style`` (no model); the others convert with that
        method's model for ``source`` -> ``target`` (`method_model`).
    style : str, optional
        Style sound for ``method="slow"``.
    png : bool
        Also write ``OUT.png``: input and output spectrograms side by side.
    converter : Converter, optional
        An already loaded model (skips loading).
    overwrite : bool
        Replace an existing output (atomically); otherwise an existing output
        is an error and stays as it was.
    **options
        Passed to `load_model` or `load_slow`; ``by_note``: True converts
        each note on its own (`note_by_note`), False the clip whole; by
        default a cgan or CycleGAN model (`NOTE_BY_NOTE_METHODS`) converts a
        melody note by note and a single note whole (`notes.is_melody`);
        ``source`` and ``target`` (families,
        default flute -> keyboard) pick the model of ``method``.

    Returns
    -------
    out_path : str
    """
    if os.path.isdir(in_path):
        raise DataError(f"{in_path} is a folder; use convert_folder (or the CLI) for folders")
    if os.path.isdir(out_path):
        out_path = os.path.join(out_path, output_name(in_path))
    _check_output(out_path)
    from soundtransform.fileio import check_output_path

    check_output_path(out_path)
    if os.path.exists(out_path) and not overwrite:
        raise DataError(f"{out_path} already exists; pass --overwrite to replace it")
    y16 = audio.load(in_path, require_sound=True)
    rate = input_rate(in_path)
    converter = converter_for(model, method, style, converter, **options)
    out16 = converter.convert_batch(y16[None])[0]
    return _write(converter, in_path, out_path, y16, out16, rate, png)


def output_name(in_path):
    """The file name a folder conversion writes for ``in_path``: same stem, its format if writable, else ``.wav``."""
    stem, ext = os.path.splitext(os.path.basename(in_path))
    return stem + (ext.lower() if ext.lower() in OUTPUT_EXTENSIONS else ".wav")


def list_inputs(in_dir):
    """Audio files directly in ``in_dir`` (by extension, hidden files skipped), sorted."""
    if not os.path.isdir(in_dir):
        raise DataError(f"no such folder: {in_dir}")
    files = audio.list_audio(in_dir)
    if not files:
        raise DataError(f"{in_dir} holds no audio files ({', '.join(INPUT_EXTENSIONS)})")
    return files


def folder_plan(in_dir, out_dir, overwrite=False):
    """The inputs of a folder conversion still to do, checked before any work.

    Returns
    -------
    files : list of str, inputs whose output does not exist yet (all with ``overwrite``)
    out_dir : str, absolute
    kept : list of str, existing outputs left alone
    """
    files = list_inputs(in_dir)
    out_dir = os.path.abspath(out_dir)
    if os.path.abspath(in_dir) == out_dir:
        raise ParameterError(f"output folder {out_dir} is the input folder; choose another")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DataError(f"output {out_dir} is a file, expected a folder")
    if not os.path.isdir(os.path.dirname(out_dir)):
        raise DataError(f"output folder {os.path.dirname(out_dir)} does not exist")
    targets = {f: os.path.join(out_dir, output_name(f)) for f in files}
    kept = [] if overwrite else [t for t in targets.values() if os.path.exists(t)]
    return [f for f in files if targets[f] not in kept], out_dir, kept


def convert_folder(in_dir, out_dir, model=None, method="model", style=None, png=False, converter=None,
                   batch_size=BATCH_SIZE, progress=True, overwrite=False, **options):
    """Convert every audio file directly in ``in_dir`` into ``out_dir``.

    One output per input, named after it (``.wav`` unless the input is
    ``.flac``/``.ogg``).  Files are read and written on background threads
    while the model runs; files of equal length (at 16 kHz) go through the
    model ``batch_size`` at a time.  A file that cannot be read is reported
    and skipped; the others are still converted.  Outputs that already exist
    are kept (so an interrupted folder conversion resumes) unless
    ``overwrite``.

    Returns
    -------
    dict with ``converted`` (list of output paths), ``failed`` (list of
    ``(input, message)``) and ``kept`` (existing outputs left alone).
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    files, out_dir, kept = folder_plan(in_dir, out_dir, overwrite)
    converter = converter_for(model, method, style, converter, **options)
    os.makedirs(out_dir, exist_ok=True)

    def load(path):
        try:
            return path, audio.load(path, require_sound=True), input_rate(path), None
        except DataError as exc:
            return path, None, None, str(exc)

    converted, failed, pending = [], [], []
    if not files:
        return {"converted": [], "failed": [], "kept": kept}
    chunks = [files[i:i + batch_size] for i in range(0, len(files), batch_size)]
    bar = tqdm(total=len(files), unit="file", disable=not progress, desc="convert")
    with ThreadPoolExecutor(max_workers=2) as pool:
        loading = [pool.submit(load, path) for path in chunks[0]]
        for i in range(len(chunks)):
            chunk = [future.result() for future in loading]
            if i + 1 < len(chunks):  # read the next chunk while the model runs on this one
                loading = [pool.submit(load, path) for path in chunks[i + 1]]
            by_length = {}
            for path, y16, rate, error in chunk:
                if error is None:
                    by_length.setdefault(len(y16), []).append((path, y16, rate))
                else:
                    failed.append((path, error))
            for group in by_length.values():
                outs = converter.convert_batch(np.stack([y for _, y, _ in group]))
                for (path, y16, rate), out16 in zip(group, outs):
                    out_path = os.path.join(out_dir, output_name(path))
                    pending.append(pool.submit(_write, converter, path, out_path, y16, out16, rate, png))
            bar.update(len(chunk))
        converted = [future.result() for future in pending]
    bar.close()
    return {"converted": converted, "failed": failed, "kept": kept}


def convert_path(in_path, out_path, **kwargs):
    """`convert_file` or `convert_folder`, whichever ``in_path`` needs; the CLI's entry point.

    Returns
    -------
    dict with ``converted`` and ``failed`` as `convert_folder` gives.
    """
    if os.path.isdir(in_path):
        return convert_folder(in_path, out_path, **kwargs)
    kwargs.pop("progress", None)
    kwargs.pop("batch_size", None)
    return {"converted": [convert_file(in_path, out_path, **kwargs)], "failed": [], "kept": []}
