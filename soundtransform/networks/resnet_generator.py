"""The ResNet generator of CycleGAN (Zhu et al. 2017), on spectrogram images.

Johnson et al.'s (2016) image transformation network as CycleGAN uses it: a 7x7
convolution, two stride-2 down-samplings, residual blocks at a quarter of the
resolution, two up-samplings and a 7x7 convolution to one channel.  Being fully
convolutional with no pooling over the whole image, it keeps the output
time-aligned with the input.
"""

import keras
from keras import layers

from soundtransform.layers import INIT, conv_block, downsample, residual_block, upsample


@keras.saving.register_keras_serializable(package="soundtransform")
class ResNetGenerator(keras.Model):
    """CycleGAN's generator ``c7s1-64, d128, d256, R256 x n, u128, u64, c7s1-1``.

    Parameters
    ----------
    input_shape : tuple (freq, frames, 1)
        Both sides must be divisible by ``2 ** n_downsampling``.
    ngf : int
        Filters of the first convolution (64 in CycleGAN); each down-sampling
        doubles them.
    n_downsampling : int
        Stride-2 levels (2 in CycleGAN).
    n_residual_blocks : int
        9 in CycleGAN for 256 x 256 images, 6 for 128 x 128.
    norm : str
        ``"instance"``, ``"batch"`` or ``"none"``.

    Call
    ----
    images : [batch, freq, frames, 1], log-magnitude image in [-1, 1]
    returns [batch, freq, frames, 1] in [-1, 1] (tanh)
    """

    def __init__(self, input_shape=(256, 256, 1), ngf=64, n_downsampling=2, n_residual_blocks=9,
                 norm="instance", **kwargs):
        input_shape = tuple(int(s) for s in input_shape)
        inputs = keras.Input(input_shape, name="spectrogram")
        x = conv_block(inputs, ngf, 7, norm=norm, activation="relu", name="stem")
        for i in range(n_downsampling):
            x = downsample(x, ngf * 2 ** (i + 1), norm=norm, activation="relu", name=f"down{i + 1}")
        for i in range(n_residual_blocks):
            x = residual_block(x, ngf * 2**n_downsampling, norm=norm, name=f"res{i + 1}")
        for i in reversed(range(n_downsampling)):
            x = upsample(x, ngf * 2**i, norm=norm, activation="relu", name=f"up{i + 1}")
        outputs = layers.Conv2D(input_shape[-1], 7, padding="same", activation="tanh",
                                kernel_initializer=INIT, name="output")(x)
        super().__init__(inputs, outputs, **kwargs)
        self.spectrogram_shape = input_shape
        self.ngf = ngf
        self.n_downsampling = n_downsampling
        self.n_residual_blocks = n_residual_blocks
        self.norm = norm

    def get_config(self):
        return {
            "name": self.name,
            "input_shape": self.spectrogram_shape,
            "ngf": self.ngf,
            "n_downsampling": self.n_downsampling,
            "n_residual_blocks": self.n_residual_blocks,
            "norm": self.norm,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
