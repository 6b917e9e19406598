"""The U-Net generator of pix2pix (Isola et al. 2017), on spectrogram images.

An encoder of stride-2 convolutions and a decoder of resize-convolutions, with a
skip connection from each encoder level to the decoder level of the same size
(Ronneberger et al. 2015).  The skips carry the input's fine time-frequency
detail straight to the output, so the output stays time-aligned with the input
(its harmonics at the same rows, its onset at the same frames) and can be
inverted with the source's phase.
"""

import keras
from keras import layers

from soundtransform.layers import INIT, downsample, upsample


@keras.saving.register_keras_serializable(package="soundtransform")
class UNet(keras.Model):
    """pix2pix's U-Net generator (Isola et al. 2017, appendix 6.1.1).

    Level ``i`` of the encoder has ``ngf * min(2**i, 8)`` filters, as in
    pix2pix's ``C64-C128-C256-C512-C512-...``; the first level has no
    normalisation, nor has the innermost (its map may be 1 x 1, where instance
    norm would zero it).  The ``dropout`` of pix2pix's first three decoder levels
    is kept.  Up-sampling is resize-convolution (`soundtransform.layers.upsample`),
    not transposed convolution, to avoid checkerboard tones.

    Parameters
    ----------
    input_shape : tuple (freq, frames, 1)
        Both sides must be divisible by ``2 ** depth``.
    ngf : int
        Filters of the first level (64 in pix2pix).
    depth : int
        Number of stride-2 levels (8 in pix2pix for 256 x 256).
    norm : str
        ``"instance"``, ``"batch"`` or ``"none"`` (see `soundtransform.layers`).
    dropout : float
        Dropout rate of the three innermost decoder levels (0.5 in pix2pix).

    Call
    ----
    images : [batch, freq, frames, 1], log-magnitude image in [-1, 1]
    returns [batch, freq, frames, 1] in [-1, 1] (tanh)
    """

    def __init__(self, input_shape=(256, 256, 1), ngf=64, depth=8, norm="instance", dropout=0.5, **kwargs):
        input_shape = tuple(int(s) for s in input_shape)
        inputs = keras.Input(input_shape, name="spectrogram")
        x = inputs
        skips = []
        for i in range(depth):
            level_norm = "none" if i in (0, depth - 1) else norm
            x = downsample(x, ngf * min(2**i, 8), norm=level_norm, activation="leaky_relu", name=f"down{i + 1}")
            skips.append(x)
        for i in reversed(range(depth - 1)):
            x = upsample(x, ngf * min(2**i, 8), norm=norm, activation="relu", name=f"up{i + 1}")
            if dropout and i >= depth - 4:
                x = layers.Dropout(dropout, name=f"up{i + 1}_dropout")(x)
            x = layers.Concatenate(name=f"skip{i + 1}")([x, skips[i]])
        x = layers.UpSampling2D(2, interpolation="nearest", name="output_up")(x)
        outputs = layers.Conv2D(input_shape[-1], 3, padding="same", activation="tanh",
                                kernel_initializer=INIT, name="output")(x)
        super().__init__(inputs, outputs, **kwargs)
        self.spectrogram_shape = input_shape
        self.ngf = ngf
        self.depth = depth
        self.norm = norm
        self.dropout = dropout

    def get_config(self):
        return {
            "name": self.name,
            "input_shape": self.spectrogram_shape,
            "ngf": self.ngf,
            "depth": self.depth,
            "norm": self.norm,
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
