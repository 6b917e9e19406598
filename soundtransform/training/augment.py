"""Source augmentation: a player's level and breath, drawn anew every epoch.

``augment_gain_db`` and ``augment_noise_db`` (checked by `presets.resolve`)
change the training *sources* only; targets stay as rendered, so a generator
learns to give the same target whatever the input's level and noise floor.
"""

import numpy as np
import tensorflow as tf

from soundtransform import audio


def augment_images(images, gain_db, noise_db=None, rng=None):
    """Source images with a gain and, optionally, a floor of broadband noise.

    Parameters
    ----------
    images : tf.Tensor [shape=(..., freq, frames, 1)], values in [-1, 1]
        In the project's mapping (`audio.amplitude_to_image`).
    gain_db : float or tf.Tensor, dB
        Broadcasts against the leading axes.
    noise_db : float, optional, dB re full scale
        The RMS level of noise with Rayleigh amplitudes added in every bin.
    rng : tf.random.Generator, optional
        Where the noise comes from; default the global generator.

    Returns
    -------
    tf.Tensor, the same shape, values in [-1, 1]
    """
    rng = rng or tf.random.get_global_generator()
    amplitude = audio.image_to_amplitude(images) * tf.pow(10.0, tf.cast(gain_db, tf.float32) / 20.0)
    if noise_db is not None:
        noise = tf.pow(10.0, tf.cast(noise_db, tf.float32) / 20.0) * tf.abs(tf.complex(
            rng.normal(tf.shape(images)), rng.normal(tf.shape(images)))) / np.sqrt(2.0)
        amplitude = tf.sqrt(amplitude ** 2 + noise ** 2)
    return audio.amplitude_to_image(amplitude)


def is_augmented(config):
    """Whether ``config`` asks for any augmentation."""
    return bool(config.get("augment_gain_db")) or config.get("augment_noise_db") is not None


def augmented(dataset, config):
    """``dataset`` of (source, target), or of sources alone, with each source drawn anew every epoch.

    A gain uniform in +-``augment_gain_db`` and, with ``augment_noise_db`` set,
    noise at a level uniform in ``[augment_noise_db - 20, augment_noise_db]``
    (`augment_images`); the target is untouched.  ``dataset`` itself when
    nothing is asked for.

    The draws come from one ``tf.random.Generator`` seeded with
    ``config["seed"]``, whose state lives outside the pipeline: plain random
    ops in a ``map`` replay the same values on every new iterator (every
    epoch) once a global seed is set, as `train.train` does.
    """
    if dataset is None or not is_augmented(config):
        return dataset
    gain, noise = float(config.get("augment_gain_db") or 0.0), config.get("augment_noise_db")
    rng = tf.random.Generator.from_seed(config.get("seed", 0))

    def change(source, *target):
        g = rng.uniform([], -gain, gain) if gain else 0.0
        n = None if noise is None else rng.uniform([], noise - 20.0, noise)
        changed = augment_images(source, g, n, rng)
        return (changed, *target) if target else changed

    return dataset.map(change)
