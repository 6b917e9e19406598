"""An exponential moving average of a network's weights, for GAN generators and Faster's transform net.

GAN generators swing from step to step and epoch to epoch: the shipped cgan's
valid-split score went 73, 66, 81, 84, 70 % over five consecutive epochs
(docs/history.md, "Every method and direction at a glance").  Averaging the generator's
weights over recent steps (Karras et al. 2018, "Progressive Growing of GANs";
Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training")
gives a generator that swings less and is usually better than any single
step's, at no training cost.  The average never feeds back into training.
"""

import keras
import tensorflow as tf


class WeightAverage(keras.layers.Layer):
    """Holds ``average``, a copy of ``network`` whose weights follow the network's moving average.

    After step ``t`` (`update`), each average weight ``a`` of a network weight
    ``w`` becomes ``d * a + (1 - d) * w`` with ``d = min(decay, (1 + t) / (10 + t))``,
    so the first steps are not swamped by the random initial weights
    (the warm-up of `tf.train.ExponentialMovingAverage` with ``num_updates``).
    The copy is a sub-layer, so checkpoints of the owning model hold it and a
    resumed run keeps averaging where it stopped.

    Parameters
    ----------
    network : keras.Model
        A built network with ``get_config``/``from_config`` (e.g. `UNet`); it
        is copied, not kept.
    decay : float
        In (0, 1); 0.995 averages over roughly the last 200 steps.
    """

    def __init__(self, network, decay=0.995, **kwargs):
        super().__init__(**kwargs)
        self.decay = float(decay)
        self.average = network.__class__.from_config(network.get_config())
        self.average.set_weights(network.get_weights())
        self.average.trainable = False
        self.built = True  # the copy is built already

    def update(self, network, step):
        """Move the average toward ``network``'s current weights; ``step`` counts the updates so far (from 1)."""
        step = tf.cast(step, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + step) / (10.0 + step))
        for average, weight in zip(self.average.weights, network.weights):
            average.assign(decay * average + (1.0 - decay) * weight)

    def call(self, images, training=False):
        return self.average(images, training=training)

    def get_config(self):
        # Not deserialised on its own: its owner (`CGAN`, `FasterStyleTransfer`) builds it from the network it averages.
        return {**super().get_config(), "decay": self.decay}
