"""The inference pipeline: waveform -> image -> generator -> image -> waveform, as one TensorFlow graph.

Every conversion runs through `build_serving_module`: the SavedModel export
(`soundtransform.export`), ``convert`` of a generator file or run folder
(`soundtransform.convert`) and the judging of each epoch during training
(`soundtransform.training.selection`).  The one other copy is `soundtransform.lite`, the same
steps in NumPy around an ONNX or TFLite network file, held to this graph by the tests::

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

from soundtransform.errors import ParameterError, check_choice

PHASES = ("source", "griffin-lim")
UPPER_BINS = ("source", "silent")
# Measured (benchmarks/bench_convert.py): silence is closer to the real target
# over the whole upper band, in both directions.
DEFAULT_UPPER_BINS = "silent"
# Level matching (`audio.level_gain`): each clip's peak is moved to this many dBFS
# before conversion, and back after.
DEFAULT_INPUT_PEAK_DB = -19.0
MAX_WINDOW_BATCH = 8  # windows through the generator at once, bounds memory on long inputs
SIGNATURES = {
    "serving_default": "waveform float32 [batch, samples] at sample_rate -> waveform, same shape",
    "transform_images": "images float32 [batch, freq_bins, frames, 1] in [-1, 1] -> images",
}

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
