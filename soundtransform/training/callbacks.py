"""Keras callbacks the translation methods share: saving generators, example pictures, the learning-rate fall."""

import os

import keras
import numpy as np
import tensorflow as tf

from soundtransform import audio
from soundtransform.training import runs


class SaveGenerators(keras.callbacks.Callback):
    """After every epoch, write each generator's ``.keras`` file and the epoch's logs (`runs.write_metrics`).

    Parameters
    ----------
    generators : callable
        ``generators(model) -> dict file name -> keras.Model``.
    run_dir : str
    """

    def __init__(self, generators, run_dir):
        super().__init__()
        self.generators = generators
        self.run_dir = run_dir

    def on_epoch_end(self, epoch, logs=None):
        for filename, generator in self.generators(self.model).items():
            runs.save_generator(generator, os.path.join(self.run_dir, filename))
        runs.write_metrics(self.run_dir, epoch, logs)


class ExampleSpectrograms(keras.callbacks.Callback):
    """Each epoch, log a fixed set of example inputs and outputs to TensorBoard.

    Images are drawn with low frequencies at the bottom; audio is the output
    spectrogram inverted with 32 Griffin-Lim iterations (the input's phase is
    not kept here), so it is a preview, not the exported model's sound.

    Parameters
    ----------
    images : np.ndarray [shape=(n, freq, frames, 1)], values in [-1, 1]
        Fixed example inputs (e.g. the first notes of the valid split).
    translate : callable
        ``translate(model, images) -> dict name -> images`` of the same shape,
        e.g. ``{"output": model.generator(images)}``.
    log_dir : str
        The run's TensorBoard folder; examples go to ``log_dir/examples``.
    """

    def __init__(self, images, translate, log_dir, audio_examples=2):
        super().__init__()
        self.images = np.asarray(images, np.float32)
        self.translate = translate
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "examples"))
        self.audio_examples = audio_examples

    @staticmethod
    def _picture(images):
        # [n, freq, frames, 1] in [-1, 1] -> [n, freq, frames, 1] in [0, 1], low rows at the bottom
        return (tf.reverse(tf.convert_to_tensor(images), axis=[1]) + 1.0) / 2.0

    def on_epoch_end(self, epoch, logs=None):
        outputs = {"input": self.images, **self.translate(self.model, self.images)}
        samples = audio.frames_to_samples(self.images.shape[2])
        with self.writer.as_default(step=epoch):
            for name, images in outputs.items():
                tf.summary.image(name, self._picture(images), max_outputs=len(self.images))
                n = min(self.audio_examples, len(self.images))
                waves = audio.image_to_waveform(images[:n], samples, phase="griffin-lim")
                tf.summary.audio(name, waves[..., None], audio.SAMPLE_RATE, max_outputs=n)
        self.writer.flush()


def example_images(dataset, count):
    """The first ``count`` input images of an unbatched dataset, ``[n, freq, frames, 1]``.

    Its elements are images, or tuples whose first item is the input image.
    """
    first = [item[0] if isinstance(item, (tuple, list)) else item for item in dataset.take(count)]
    return np.stack([image.numpy() for image in first])


class LinearDecay(keras.callbacks.Callback):
    """The CycleGAN paper's schedule: a constant learning rate, then a linear fall toward zero.

    Before each epoch every optimiser's learning rate is set to
    ``base * (epochs - e + 1) / (epochs - start + 2)`` for the epoch ``e``
    (counted from 1) at or after ``start``, else ``base``.  So epoch
    ``start`` is the first below ``base`` and the last trains at
    ``base / (epochs - start + 2)``, not at zero.  Setting it
    each epoch, rather than once, keeps a resumed run on the schedule: the
    checkpoint restores the optimisers' own last rate, which this overwrites.

    Parameters
    ----------
    optimizers : list of keras.optimizers.Optimizer
    base : float
        The constant rate (``learning_rate``).
    start : int
        The first epoch (from 1) trained below ``base``.
    epochs : int
        The run's last epoch.
    """

    def __init__(self, optimizers, base, start, epochs):
        super().__init__()
        self.optimizers = list(optimizers)
        self.base = float(base)
        self.start = int(start)
        self.epochs = int(epochs)

    def rate(self, epoch):
        """The learning rate of ``epoch`` (counted from 1)."""
        if epoch < self.start:
            return self.base
        return self.base * max(0.0, (self.epochs - epoch + 1) / (self.epochs - self.start + 2))

    def on_epoch_begin(self, epoch, logs=None):
        for optimizer in self.optimizers:
            optimizer.learning_rate = self.rate(epoch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.rate(epoch + 1)
