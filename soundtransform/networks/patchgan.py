"""The PatchGAN discriminator of pix2pix and CycleGAN (Isola et al. 2017; Zhu et al. 2017).

A fully convolutional classifier whose every output unit judges one patch of
the input (70 x 70 pixels with the paper's three stride-2 layers), so it
penalises structure at the scale of patches: on a spectrogram, the texture of
a few harmonics over a fraction of a second, which is where timbre lives.
"""

import keras
from keras import layers

from soundtransform.layers import INIT, conv_block


@keras.saving.register_keras_serializable(package="soundtransform")
class PatchGAN(keras.Model):
    """The 70 x 70 PatchGAN ``C64-C128-C256-C512`` with 4x4 convolutions.

    Parameters
    ----------
    input_shape : tuple (freq, frames, channels)
        ``channels`` is 1 for an unconditional discriminator (CycleGAN) and 2
        for pix2pix's, which sees the source and the (real or generated)
        target stacked.
    ndf : int
        Filters of the first layer (64 in the papers).
    n_layers : int
        Stride-2 layers (3 in the papers: 70 x 70 patches).
    norm : str
        ``"instance"``, ``"batch"`` or ``"none"``; the first layer has none.

    Call
    ----
    images : [batch, freq, frames, channels] in [-1, 1]
    returns logits [batch, freq / 2**n_layers, frames / 2**n_layers, 1]
    (no sigmoid: the adversarial losses take logits).
    """

    def __init__(self, input_shape=(256, 256, 1), ndf=64, n_layers=3, norm="instance", **kwargs):
        input_shape = tuple(int(s) for s in input_shape)
        inputs = keras.Input(input_shape, name="spectrogram")
        x = inputs
        for i in range(n_layers):
            x = conv_block(x, ndf * min(2**i, 8), 4, strides=2, norm="none" if i == 0 else norm,
                           activation="leaky_relu", name=f"layer{i + 1}")
        x = conv_block(x, ndf * min(2**n_layers, 8), 4, strides=1, norm=norm, activation="leaky_relu",
                       name=f"layer{n_layers + 1}")
        outputs = layers.Conv2D(1, 4, padding="same", kernel_initializer=INIT, name="logits")(x)
        super().__init__(inputs, outputs, **kwargs)
        self.spectrogram_shape = input_shape
        self.ndf = ndf
        self.n_layers = n_layers
        self.norm = norm

    def get_config(self):
        return {
            "name": self.name,
            "input_shape": self.spectrogram_shape,
            "ndf": self.ndf,
            "n_layers": self.n_layers,
            "norm": self.norm,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
