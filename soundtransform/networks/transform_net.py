"""The feed-forward image transformation network of Johnson, Alahi & Fei-Fei (2016).

*Perceptual Losses for Real-Time Style Transfer and Super-Resolution* (ECCV
2016), supplementary Table 1: a 9x9 conv, two stride-2 downsampling convs,
five residual blocks, two upsampling convs and a 9x9 conv to the output, with
instance normalisation (Ulyanov et al. 2016) instead of batch norm.  Here the
image is a one-channel log-spectrogram, upsampling is resize-convolution
(`layers.upsample`, no checkerboard tones) and the output is ``tanh``, the
image range [-1, 1].
"""

import keras
from keras import layers

from soundtransform.layers import INIT, conv_block, downsample, residual_block, upsample


def transform_net(input_shape=(256, 256, 1), width=32, residual_blocks=5, norm="instance", name="transform_net"):
    """Build Johnson et al.'s transformation network.

    Parameters
    ----------
    input_shape : tuple (freq, frames, 1)
        Both sides divisible by 4 (two halvings); ``None`` sides make it fully
        convolutional.
    width : int
        Filters of the first conv (Johnson et al.: 32); the downsampled
        stages and residual blocks have ``2 * width`` and ``4 * width``.
    residual_blocks : int
        Residual blocks at the lowest resolution (Johnson et al.: 5).
    norm : {"instance", "batch", "none"}

    Returns
    -------
    keras.Model: ``[batch, freq, frames, 1]`` -> ``[batch, freq, frames, 1]``, both in [-1, 1].
    """
    inputs = keras.Input(tuple(input_shape), name="spectrogram")
    x = conv_block(inputs, width, 9, norm=norm, name="in")
    x = downsample(x, 2 * width, norm=norm, name="down1")
    x = downsample(x, 4 * width, norm=norm, name="down2")
    for i in range(1, residual_blocks + 1):
        x = residual_block(x, 4 * width, norm=norm, name=f"res{i}")
    x = upsample(x, 2 * width, norm=norm, name="up1")
    x = upsample(x, width, norm=norm, name="up2")
    x = layers.Conv2D(1, 9, padding="same", kernel_initializer=INIT, name="out_conv")(x)
    outputs = layers.Activation("tanh", name="out")(x)
    return keras.Model(inputs, outputs, name=name)
