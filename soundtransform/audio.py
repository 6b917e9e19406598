"""Waveforms, STFTs, spectrogram images and phase: the only module that knows them.

Data flows one way through the project: audio -> spectrogram image -> method ->
spectrogram image -> audio.  This module owns both ends.

The constants are chosen for 2-D conv nets, whose strided layers halve the image
several times: ``N_FFT = 512`` gives 257 bins, of which the 256 below Nyquist are
kept (a power of two; the Nyquist bin of a 16 kHz signal carries nothing musical),
and ``HOP_LENGTH = 256`` turns an NSynth note (4 s) into 251 frames, padded to
``IMAGE_FRAMES = 256`` (4.08 s).  A note is thus a 256 x 256 grey-scale image,
the size of pix2pix's own images.  Narrower inputs (presets) keep the lowest
``freq_bins`` rows and fewer frames; the rest of the pipeline does not change.

Magnitudes are scaled so that a full-scale sine peaks at 1.0 (0 dB) and mapped to
``[-1, 1]`` by ``dB = 20 log10(|X| + 10 ** (DB_FLOOR / 20))``.  Adding the floor
instead of clipping at it keeps the mapping invertible, so an untouched image
inverts back to the exact magnitude.

All transforms are TensorFlow ops so they can live inside an exported SavedModel
(no tensorflow-io ops here: TF Serving does not have them).  TensorFlow is
imported by the functions that use it: reading, checking and writing files
(`load`, `save`) does without it, so bad input is reported before TensorFlow's
import (seconds) is paid.
"""

import os

import numpy as np

from soundtransform.errors import DataError, ParameterError, check_choice
from soundtransform.fileio import atomic_path

SAMPLE_RATE = 16000
N_FFT = 512
HOP_LENGTH = 256
N_FREQ = N_FFT // 2  # bins kept: 0 .. 7968.75 Hz; the Nyquist bin is dropped
IMAGE_FRAMES = 256  # frames of one model window, 4.08 s
NOTE_SECONDS = 4.0
DB_FLOOR = -80.0  # dB re full-scale sine
SILENCE_DB = -80.0  # a file whose peak is below this is called silent
MAX_LEVEL_GAIN_DB = 60.0  # `level_gain` scales a clip by this much at most, either way
MAX_SECONDS = 20 * 60  # longer inputs are refused before they are read
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".au", ".opus")  # `list_audio`

PHASES = ("source", "griffin-lim")

_FLOOR_AMP = 10.0 ** (DB_FLOOR / 20.0)
# A periodic Hann window sums to N_FFT / 2, so a unit sine peaks at N_FFT / 4.
_MAG_SCALE = 4.0 / N_FFT


def frames_to_samples(frames):
    """Number of samples whose STFT has ``frames`` frames."""
    return (frames - 1) * HOP_LENGTH


def samples_to_frames(samples):
    """Number of STFT frames of ``samples`` samples (centred frames)."""
    return samples // HOP_LENGTH + 1


def bin_frequencies(freq_bins=N_FREQ):
    """Centre frequency of each image row, ``np.ndarray [shape=(freq_bins,)]``, Hz."""
    return np.arange(freq_bins) * SAMPLE_RATE / N_FFT


# --------------------------------------------------------------------- files


def list_audio(folder):
    """Audio files directly in ``folder``, by extension (`AUDIO_EXTENSIONS`), hidden files skipped, sorted.

    Returns
    -------
    list of str, empty if the folder holds none; the caller says what that means.
    """
    folder = os.fspath(folder)
    return sorted(
        os.path.join(folder, f) for f in os.listdir(folder)
        if not f.startswith(".") and os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS
        and os.path.isfile(os.path.join(folder, f))
    )


def load(path, sample_rate=SAMPLE_RATE, require_sound=False, max_seconds=MAX_SECONDS):
    """Read an audio file as mono float32 at ``sample_rate``.

    Any format and rate libsndfile reads (wav, flac, ogg, mp3 ...), any channel
    count (channels are averaged), 8/16/24/32-bit PCM or float.

    Parameters
    ----------
    path : str or os.PathLike
    sample_rate : int, Hz
    require_sound : bool
        Raise `DataError` if the file is silent (peak below `SILENCE_DB`).
    max_seconds : float
        Refuse longer files before decoding them, so a 2-hour file never
        exhausts memory.

    Returns
    -------
    y : np.ndarray [shape=(samples,)], float32 in [-1, 1]

    Raises
    ------
    DataError
        Missing, a folder, empty, not audio, zero-length, too long, non-finite
        or (with ``require_sound``) silent.
    """
    import soundfile as sf

    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"no such file: {path}")
    if os.path.isdir(path):
        raise DataError(f"{path} is a folder, expected an audio file")
    if os.path.getsize(path) == 0:
        raise DataError(f"{path} is empty (0 bytes)")
    try:
        info = sf.info(path)
    except Exception as exc:  # libsndfile's own errors are not one type
        raise DataError(f"cannot read {path} as audio: {_first_line(exc)}") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise DataError(f"{path} has no audio samples")
    seconds = info.frames / info.samplerate
    if seconds > max_seconds:
        raise DataError(
            f"{path} is {seconds:.0f} s long; the limit is {max_seconds:.0f} s "
            "(split it into shorter files)"
        )
    try:
        y, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:
        raise DataError(f"cannot decode {path}: {_first_line(exc)}") from None
    if y.size == 0:
        raise DataError(f"{path} has no audio samples")
    if not np.all(np.isfinite(y)):
        raise DataError(f"{path} contains NaN or infinite samples")
    y = y.mean(axis=1)
    if sr != sample_rate:
        y = resample(y, sr, sample_rate)
    y = np.clip(y, -1.0, 1.0).astype(np.float32)
    if require_sound and peak_db(y) < SILENCE_DB:
        raise DataError(f"{path} is silent (peak below {SILENCE_DB:.0f} dBFS)")
    return y


def resample(y, orig_sr, target_sr):
    """Resample ``y [shape=(samples,)]`` from ``orig_sr`` to ``target_sr`` Hz.

    soxr's high-quality mode, cut or zero-padded to ``ceil(samples * target_sr
    / orig_sr)`` samples: what ``librosa.resample`` gives, without importing
    librosa (a second of start-up on the convert path).
    """
    import soxr

    y = np.asarray(y, dtype=np.float32)
    if orig_sr == target_sr:
        return y
    out = soxr.resample(y, orig_sr, target_sr, quality="soxr_hq")
    return fit_length(np.asarray(out, np.float32), int(np.ceil(y.shape[-1] * target_sr / orig_sr)))


def save(path, y, sample_rate=SAMPLE_RATE, subtype="PCM_16"):
    """Write ``y [shape=(samples,)]`` atomically; the format follows the extension.

    Samples are clipped to [-1, 1].  Nothing is left at ``path`` unless the
    whole file was written.
    """
    import soundfile as sf

    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    formats = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}
    fmt = formats.get(ext)
    if fmt is None:
        raise ParameterError(
            f"cannot write audio as {ext or 'a file without extension'!r}; "
            f"use one of: {', '.join('.' + e for e in formats)}"
        )
    if fmt == "OGG":
        subtype = "VORBIS"
    with atomic_path(path) as tmp:
        sf.write(tmp, _writable(y, subtype), sample_rate, format=fmt, subtype=subtype)


# Integer sample formats that `save` quantises itself: bits, and the integer
# type soundfile takes for them (left-aligned: 24-bit samples go as int32).
_ROUNDED = {"PCM_16": (16, np.int16), "PCM_24": (24, np.int32)}


def _writable(y, subtype):
    """What `save` and `as_written` hand libsndfile: NaN as 0, clipped to [-1, 1], rounded.

    libsndfile's own float-to-integer conversion rounds toward minus infinity
    (0.9 of a 16-bit step becomes 0, -0.4 becomes -1): a bias of half a step
    and 6 dB more quantisation noise, all of it in a note's quiet tail.  For
    PCM_16 and PCM_24 the samples are rounded to the nearest step here and
    handed over as integers, so a file read with `load` and saved again is
    bit-identical (steps of ``2 ** -(bits - 1)``, as libsndfile reads them).
    Other formats get float32.
    """
    y = np.clip(np.nan_to_num(np.asarray(y, dtype=np.float32)), -1.0, 1.0)
    if subtype not in _ROUNDED:
        return y
    bits, dtype = _ROUNDED[subtype]
    steps = 2.0 ** (bits - 1)
    q = np.clip(np.rint(y.astype(np.float64) * steps), -steps, steps - 1)
    return (q * 2.0 ** (np.iinfo(dtype).bits - bits)).astype(dtype)


def as_written(y, subtype="PCM_16"):
    """``y`` as `save` stores it in a WAV file and `load` reads it back: clipped, quantised.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,) or (clips, samples)], float, full scale 1
    subtype : str
        The WAV sample format (`save`'s).

    Returns
    -------
    np.ndarray, the shape of ``y``, float32

    What a user's file holds is what gets judged.  When libsndfile did the
    quantising (rounding toward minus infinity, see `_writable`), the judge
    heard it in a note's quiet tail: one cgan's outputs of the 222 test
    flutes were judged keyboard 78.4 % of the time from the files, 93.2 % as
    floats; rounded as now, 91.4 % from the files.
    """
    import io

    import soundfile as sf

    y = np.asarray(y, dtype=np.float32)
    if subtype in _ROUNDED:  # `_writable` quantises these itself: what libsndfile reads back, without a file
        q = _writable(y, subtype)
        return (q / -float(np.iinfo(q.dtype).min)).astype(np.float32)
    if y.ndim == 2:  # one clip at a time: [clips, samples]
        return np.stack([as_written(clip, subtype) for clip in y]) if len(y) else y
    buffer = io.BytesIO()
    sf.write(buffer, _writable(y, subtype), SAMPLE_RATE, format="WAV", subtype=subtype)
    buffer.seek(0)
    return sf.read(buffer, dtype="float32")[0]


def level_gain(waveform, peak_db):
    """The factor that puts each waveform's peak at ``peak_db`` dBFS: ``[..., 1]`` for ``[..., samples]``.

    Level matching: the image is absolute dB, so a generator sees a soft note
    differently from the same note played louder.  ``None`` gives 1.  The
    factor is bounded to `MAX_LEVEL_GAIN_DB` either way, so a silent clip stays
    silent rather than having its last bit raised to ``peak_db``.
    """
    import tensorflow as tf

    waveform = tf.convert_to_tensor(waveform, tf.float32)
    if peak_db is None:
        return tf.ones_like(waveform[..., :1])
    peak = tf.reduce_max(tf.abs(waveform), axis=-1, keepdims=True)
    bound = 10.0 ** (MAX_LEVEL_GAIN_DB / 20.0)
    return tf.clip_by_value(10.0 ** (float(peak_db) / 20.0) / tf.maximum(peak, 1e-30), 1.0 / bound, bound)


def peak_db(y):
    """Peak level of ``y`` in dBFS (``-inf`` for digital silence)."""
    peak = float(np.max(np.abs(y))) if np.size(y) else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else -np.inf


def fit_length(y, samples):
    """Zero-pad or crop the last axis of ``y`` to ``samples``."""
    y = np.asarray(y, dtype=np.float32)
    if y.shape[-1] >= samples:
        return y[..., :samples]
    pad = [(0, 0)] * (y.ndim - 1) + [(0, samples - y.shape[-1])]
    return np.pad(y, pad)


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ------------------------------------------------------------------ STFT (TF)


def stft(y):
    """Centred STFT.

    Parameters
    ----------
    y : tf.Tensor [shape=(..., samples)], float32

    Returns
    -------
    S : tf.Tensor [shape=(..., frames, N_FFT // 2 + 1)], complex64,
        ``frames = samples // HOP_LENGTH + 1``.  Magnitudes are scaled so a
        full-scale sine peaks at 1.
    """
    import tensorflow as tf

    y = tf.convert_to_tensor(y, tf.float32)
    pad = [[0, 0]] * (len(y.shape) - 1) + [[N_FFT // 2, N_FFT // 2]]
    y = tf.pad(y, pad)
    S = tf.signal.stft(
        y, N_FFT, HOP_LENGTH, N_FFT, window_fn=tf.signal.hann_window, pad_end=False
    )
    return S * tf.cast(_MAG_SCALE, tf.complex64)


def istft(S, samples):
    """Inverse of `stft`: ``S [..., frames, N_FFT // 2 + 1]`` -> ``[..., samples]``."""
    import tensorflow as tf

    S = tf.convert_to_tensor(S, tf.complex64) / tf.cast(_MAG_SCALE, tf.complex64)
    y = tf.signal.inverse_stft(
        S,
        N_FFT,
        HOP_LENGTH,
        N_FFT,
        window_fn=tf.signal.inverse_stft_window_fn(HOP_LENGTH, tf.signal.hann_window),
    )
    return y[..., N_FFT // 2 : N_FFT // 2 + samples]


def amplitude_to_image(amplitude):
    """The image value ``[-1, 1]`` of each STFT amplitude, element by element (the module's mapping)."""
    import tensorflow as tf

    db = 20.0 * tf.math.log(amplitude + _FLOOR_AMP) / tf.math.log(10.0)
    return tf.clip_by_value(1.0 - 2.0 * db / DB_FLOOR, -1.0, 1.0)


def image_to_amplitude(image):
    """Inverse of `amplitude_to_image`, element by element."""
    import tensorflow as tf

    db = (1.0 - tf.clip_by_value(image, -1.0, 1.0)) * DB_FLOOR / 2.0
    return tf.nn.relu(tf.pow(10.0, db / 20.0) - _FLOOR_AMP)


def magnitude_to_image(magnitude):
    """Log-compress ``|S| [..., frames, N_FFT//2 + 1]`` into an image ``[..., N_FREQ, frames, 1]``.

    Rows are frequency bins (row 0 is DC), columns are frames, values in [-1, 1].
    """
    import tensorflow as tf

    image = amplitude_to_image(tf.convert_to_tensor(magnitude, tf.float32)[..., :N_FREQ])
    return tf.expand_dims(tf.linalg.matrix_transpose(image), -1)


def image_to_magnitude(image):
    """Inverse of `magnitude_to_image`: ``[..., freq, frames, 1]`` -> ``[..., frames, N_FFT//2 + 1]``.

    An image with fewer than `N_FREQ` rows is taken as the lowest bins; the rest
    are silent.
    """
    import tensorflow as tf

    mag = tf.linalg.matrix_transpose(image_to_amplitude(tf.convert_to_tensor(image, tf.float32)[..., 0]))
    missing = N_FFT // 2 + 1 - tf.shape(mag)[-1]
    pad = tf.concat([tf.zeros([tf.rank(mag) - 1, 2], tf.int32), [[0, missing]]], 0)
    return tf.pad(mag, pad)


def waveform_to_image(y, freq_bins=N_FREQ):
    """Spectrogram image and phase of a waveform.

    Parameters
    ----------
    y : [shape=(..., samples)], float32 at `SAMPLE_RATE`
    freq_bins : int
        Rows kept, from the lowest bin.

    Returns
    -------
    image : tf.Tensor [shape=(..., freq_bins, frames, 1)], float32 in [-1, 1]
    phase : tf.Tensor [shape=(..., frames, N_FFT // 2 + 1)], float32, radians
    """
    import tensorflow as tf

    S = stft(y)
    image = magnitude_to_image(tf.abs(S))[..., :freq_bins, :, :]
    return image, tf.math.angle(S)


def image_to_waveform(image, samples, phase="griffin-lim", source_phase=None, n_iter=32):
    """Invert a spectrogram image to a waveform.

    Parameters
    ----------
    image : [shape=(..., freq, frames, 1)], float32 in [-1, 1]
    samples : int
        Output length.
    phase : {"source", "griffin-lim"}
        ``"source"`` reuses ``source_phase`` (for methods whose output is
        time-aligned with their input, as in Pix2Pix-Timbre-Transfer);
        ``"griffin-lim"`` estimates a phase, starting from ``source_phase`` if
        one is given, else from zero phase.
    source_phase : [shape=(..., frames, N_FFT // 2 + 1)], radians, optional
    n_iter : int
        Griffin-Lim iterations.

    Returns
    -------
    y : tf.Tensor [shape=(..., samples)], float32
    """
    check_choice("phase", phase, PHASES)
    magnitude = image_to_magnitude(image)
    if phase == "source":
        if source_phase is None:
            raise ParameterError('phase="source" needs the source phase')
        return istft(_polar(magnitude, source_phase), samples)
    return griffin_lim(magnitude, samples, n_iter=n_iter, init_phase=source_phase)


def _polar(magnitude, phase):
    import tensorflow as tf

    return tf.complex(magnitude * tf.cos(phase), magnitude * tf.sin(phase))


def griffin_lim(magnitude, samples, n_iter=32, init_phase=None, momentum=0.99):
    """Fast Griffin-Lim (Perraudin et al. 2013) as a TensorFlow loop.

    Parameters
    ----------
    magnitude : [shape=(..., frames, N_FFT // 2 + 1)], float32, linear
    samples : int
    n_iter : int
    init_phase : [shape like magnitude], radians, optional
    momentum : float
        The "fast" in fast Griffin-Lim; 0 gives the original algorithm.

    Returns
    -------
    y : tf.Tensor [shape=(..., samples)], float32
    """
    import tensorflow as tf

    magnitude = tf.convert_to_tensor(magnitude, tf.float32)
    if init_phase is None:
        angles = tf.complex(tf.ones_like(magnitude), tf.zeros_like(magnitude))
    else:
        angles = _polar(tf.ones_like(magnitude), init_phase)
    mag_c = tf.complex(magnitude, tf.zeros_like(magnitude))
    frames = tf.shape(magnitude)[-2]
    # Length that reproduces exactly ``frames`` frames in the re-analysis.
    inner = (frames - 1) * HOP_LENGTH
    alpha = tf.cast(momentum / (1.0 + momentum), tf.complex64)

    def body(i, angles, previous):
        y = istft(mag_c * angles, inner)
        rebuilt = tf.ensure_shape(stft(y), mag_c.shape)
        update = rebuilt - alpha * previous
        angles = update / tf.cast(tf.abs(update) + 1e-8, tf.complex64)
        return i + 1, angles, rebuilt

    _, angles, _ = tf.while_loop(
        lambda i, *_: i < n_iter,
        body,
        (tf.constant(0), angles, tf.zeros_like(mag_c)),
    )
    return istft(mag_c * angles, samples)


def spectral_convergence(magnitude, y):
    """``||S - |STFT(y)|||_F / ||S||_F``: how well ``y`` realises ``magnitude``."""
    import tensorflow as tf

    rebuilt = tf.abs(stft(y))
    frames = tf.minimum(tf.shape(rebuilt)[-2], tf.shape(magnitude)[-2])
    a = magnitude[..., :frames, :]
    b = rebuilt[..., :frames, :]
    return float(tf.norm(a - b) / (tf.norm(a) + 1e-12))


def snr_db(reference, estimate):
    """Signal-to-noise ratio of ``estimate`` against ``reference``, dB."""
    reference = np.asarray(reference, np.float64)
    noise = reference - np.asarray(estimate, np.float64)[: len(reference)]
    return 10.0 * np.log10(np.sum(reference**2) / max(np.sum(noise**2), 1e-20))
