"""Blocks shared by the generators and discriminators.

Instance normalisation is ``keras.layers.GroupNormalization(groups=-1)``: one
group per channel, which is instance norm (Ulyanov et al. 2016) in Keras 3
without TensorFlow Addons.  Norms are strings so more can come:
``norm="instance" | "batch" | "none"``.
"""

import keras
from keras import layers

from soundtransform.errors import check_choice

NORMS = ("instance", "batch", "none")
INIT = keras.initializers.RandomNormal(stddev=0.02)  # pix2pix / CycleGAN init


def normalization(norm, name=None):
    """A normalisation layer by name (``"none"`` gives an identity)."""
    check_choice("norm", norm, NORMS)
    if norm == "instance":
        return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)
    if norm == "batch":
        return layers.BatchNormalization(name=name)
    return layers.Identity(name=name)


def conv_block(x, filters, kernel_size=3, strides=1, norm="instance", activation="relu", name=None,
               padding="same"):
    """Conv -> norm -> activation (``activation=None`` for none)."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=norm == "none",
                      kernel_initializer=INIT, name=None if name is None else f"{name}_conv")(x)
    x = normalization(norm, None if name is None else f"{name}_norm")(x)
    if activation == "leaky_relu":
        x = layers.LeakyReLU(0.2, name=None if name is None else f"{name}_act")(x)
    elif activation is not None:
        x = layers.Activation(activation, name=None if name is None else f"{name}_act")(x)
    return x


def downsample(x, filters, norm="instance", activation="relu", name=None):
    """Halve height and width: a stride-2 3x3 conv block."""
    return conv_block(x, filters, 3, strides=2, norm=norm, activation=activation, name=name)


def upsample(x, filters, norm="instance", activation="relu", name=None):
    """Double height and width: nearest-neighbour resize then a 3x3 conv block.

    Resize-convolution avoids the checkerboard artefacts of transposed
    convolutions (Odena et al. 2016), which in a spectrogram are audible as
    periodic tones.
    """
    x = layers.UpSampling2D(2, interpolation="nearest", name=None if name is None else f"{name}_up")(x)
    return conv_block(x, filters, 3, norm=norm, activation=activation, name=name)


def residual_block(x, filters, norm="instance", name=None):
    """Two 3x3 conv blocks with a skip connection (Johnson et al. 2016; He et al. 2016)."""
    y = conv_block(x, filters, 3, norm=norm, activation="relu", name=None if name is None else f"{name}_a")
    y = conv_block(y, filters, 3, norm=norm, activation=None, name=None if name is None else f"{name}_b")
    return layers.Add(name=None if name is None else f"{name}_add")([x, y])
