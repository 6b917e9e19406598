"""The audio front end in NumPy: the same STFT, images and inversions as `audio`, without TensorFlow.

`soundtransform.lite` runs an exported network file (ONNX or TFLite) between
these functions, so a conversion never imports TensorFlow.  Each function
computes what its namesake in `audio` computes in TensorFlow (a centred STFT
with a periodic Hann window, `audio.N_FFT` and `audio.HOP_LENGTH`; magnitudes
scaled so a full-scale sine peaks at 1; log-magnitude images in [-1, 1]),
to float32 rounding: the tests hold the two to each other.

Shapes follow `audio`: waveforms ``[..., samples]``, spectra
``[..., frames, N_FFT // 2 + 1]``, images ``[..., freq_bins, frames, 1]``.
"""

import numpy as np

from soundtransform.audio import DB_FLOOR, HOP_LENGTH, MAX_LEVEL_GAIN_DB, N_FFT, N_FREQ

_FLOOR_AMP = 10.0 ** (DB_FLOOR / 20.0)
_MAG_SCALE = 4.0 / N_FFT
# tf.signal.hann_window (periodic) and tf.signal.inverse_stft_window_fn of it
_WINDOW = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
_OVERLAPS = -(-N_FFT // HOP_LENGTH)
_DENOM = np.tile(np.pad(_WINDOW ** 2, (0, _OVERLAPS * HOP_LENGTH - N_FFT))
                 .reshape(_OVERLAPS, HOP_LENGTH).sum(0), _OVERLAPS)[:N_FFT]
_INVERSE_WINDOW = (_WINDOW / _DENOM).astype(np.float32)


def frame(y, length, hop):
    """Frames of the last axis, ``[..., n, length]``, ``n = 1 + (samples - length) // hop`` (a view)."""
    y = np.ascontiguousarray(y)
    n = 1 + (y.shape[-1] - length) // hop
    strides = y.strides[:-1] + (y.strides[-1] * hop, y.strides[-1])
    return np.lib.stride_tricks.as_strided(y, y.shape[:-1] + (n, length), strides, writeable=False)


def overlap_add(frames, hop):
    """Inverse of `frame`: ``[..., n, length]`` summed ``hop`` apart into ``[..., (n - 1) * hop + length]``."""
    n, length = frames.shape[-2:]
    out = np.zeros(frames.shape[:-2] + ((n - 1) * hop + length,), np.float32)
    if length % hop == 0:  # whole hops: one strided add per hop offset
        k = length // hop
        blocks = frames.reshape(frames.shape[:-1] + (k, hop))
        for j in range(k):
            out[..., j * hop: j * hop + n * hop] += blocks[..., j, :].reshape(frames.shape[:-2] + (n * hop,))
        return out
    for i in range(n):
        out[..., i * hop: i * hop + length] += frames[..., i, :]
    return out


def stft(y):
    """Centred STFT, complex64 ``[..., frames, N_FFT // 2 + 1]``, ``frames = samples // HOP_LENGTH + 1`` (`audio.stft`)."""
    y = np.asarray(y, np.float32)
    pad = [(0, 0)] * (y.ndim - 1) + [(N_FFT // 2, N_FFT // 2)]
    frames = frame(np.pad(y, pad), N_FFT, HOP_LENGTH) * (_WINDOW * np.float32(_MAG_SCALE))
    return _fft().rfft(frames, N_FFT, axis=-1)  # float32 in, complex64 out


def istft(S, samples):
    """Inverse of `stft`: ``[..., frames, N_FFT // 2 + 1]`` -> ``[..., samples]`` (`audio.istft`)."""
    frames = _fft().irfft(np.asarray(S, np.complex64), N_FFT, axis=-1)
    frames *= _INVERSE_WINDOW / np.float32(_MAG_SCALE)
    return overlap_add(frames, HOP_LENGTH)[..., N_FFT // 2: N_FFT // 2 + samples]


def _fft():
    """scipy.fft: single precision stays single (NumPy's FFT works in float64, six times slower here)."""
    import scipy.fft

    return scipy.fft


# image = 1 - 2 dB / DB_FLOOR = 1 + _LOG_SLOPE * log10(amplitude + floor), clipped to [-1, 1]
_LOG_SLOPE = np.float32(-40.0 / DB_FLOOR)


def amplitude_to_image(amplitude):
    """The image value in [-1, 1] of each STFT amplitude (`audio.amplitude_to_image`)."""
    image = np.log10(np.asarray(amplitude, np.float32) + np.float32(_FLOOR_AMP))
    image *= _LOG_SLOPE
    image += np.float32(1.0)
    return np.clip(image, -1.0, 1.0, out=image)


def image_to_amplitude(image):
    """Inverse of `amplitude_to_image` (`audio.image_to_amplitude`)."""
    exponent = np.clip(np.asarray(image, np.float32), -1.0, 1.0)
    exponent -= np.float32(1.0)
    exponent *= np.float32(np.log(10.0)) / _LOG_SLOPE  # amplitude + floor = 10 ** ((image - 1) / slope)
    amplitude = np.exp(exponent, out=exponent)
    amplitude -= np.float32(_FLOOR_AMP)
    return np.maximum(amplitude, 0.0, out=amplitude)


def waveform_to_image(y, freq_bins=N_FREQ):
    """Image ``[..., freq_bins, frames, 1]`` in [-1, 1] and the complex STFT of a waveform (`audio.waveform_to_image`)."""
    S = stft(y)
    image = amplitude_to_image(np.abs(S[..., :freq_bins]))
    return np.swapaxes(image, -1, -2)[..., None], S


def image_to_magnitude(image):
    """``[..., freq, frames, 1]`` -> linear magnitudes ``[..., frames, N_FFT // 2 + 1]``; missing rows silent."""
    amplitude = np.swapaxes(image_to_amplitude(image[..., 0]), -1, -2)
    missing = N_FFT // 2 + 1 - amplitude.shape[-1]
    return np.pad(amplitude, [(0, 0)] * (amplitude.ndim - 1) + [(0, missing)])


def unit_phase(S):
    """``S / |S|`` (1 where ``S`` is 0): the phase of a spectrum as unit phasors."""
    magnitude = np.abs(S)
    return np.divide(S, magnitude, out=np.ones(S.shape, np.complex64), where=magnitude > 0)


def griffin_lim(magnitude, samples, n_iter=32, init_phase=None, momentum=0.99):
    """Fast Griffin-Lim from ``init_phase`` (unit phasors, or zero phase), as `audio.griffin_lim`."""
    magnitude = np.asarray(magnitude, np.float32)
    angles = np.ones(magnitude.shape, np.complex64) if init_phase is None else init_phase
    inner = (magnitude.shape[-2] - 1) * HOP_LENGTH
    alpha = np.float32(momentum / (1.0 + momentum))
    previous = np.zeros(magnitude.shape, np.complex64)
    for _ in range(int(n_iter)):
        rebuilt = stft(istft(magnitude * angles, inner))
        update = rebuilt - alpha * previous
        angles = update / (np.abs(update) + np.float32(1e-8))
        previous = rebuilt
    return istft(magnitude * angles, samples)


def level_gain(waveform, peak_db):
    """The factor ``[..., 1]`` that puts each waveform's peak at ``peak_db`` dBFS (`audio.level_gain`); 1 for None."""
    waveform = np.asarray(waveform, np.float32)
    if peak_db is None:
        return np.ones(waveform.shape[:-1] + (1,), np.float32)
    peak = np.max(np.abs(waveform), axis=-1, keepdims=True)
    bound = 10.0 ** (MAX_LEVEL_GAIN_DB / 20.0)
    gain = np.float32(10.0 ** (float(peak_db) / 20.0)) / np.maximum(peak, np.float32(1e-30))
    return np.clip(gain, 1.0 / bound, bound).astype(np.float32)
