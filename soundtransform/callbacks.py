"""Training callbacks shared by the translation methods."""

import os

import keras
import numpy as np
import tensorflow as tf

from soundtransform import audio


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
