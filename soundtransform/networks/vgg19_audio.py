"""VGG-19 on one-channel spectrogram images (Simonyan & Zisserman 2015).

The audio classifier of Liu, Delany & McKeever (2019): VGG-19's five blocks of
2-2-4-4-4 3x3 convolutions with max pooling and its two fully connected layers,
on a ``[freq, frames, 1]`` spectrogram image instead of an RGB photo, built
without downloaded weights.  Without batch normalisation a 16-conv stack
trained from scratch needs He initialisation (He et al. 2015) to start
learning; Glorot's halves the signal at every ReLU.  Its named conv outputs (``block1_conv1`` ...
``block5_conv4``) are the perceptual space of the Slow and Faster methods.
"""

import keras
from keras import layers

HEADS = ("flatten", "average")
NORMS = ("none", "batch")
BLOCKS = (2, 2, 4, 4, 4)
FILTERS = (64, 128, 256, 512, 512)
CONV_LAYERS = tuple(
    f"block{b}_conv{i}" for b, n in enumerate(BLOCKS, start=1) for i in range(1, n + 1)
)


@keras.saving.register_keras_serializable(package="soundtransform")
class VGG19AudioClassifier(keras.Model):
    """VGG-19 instrument-family classifier on spectrogram images.

    Parameters
    ----------
    num_classes : int
        Output classes (NSynth's 11 families by default).
    input_shape : tuple (freq, frames, 1)
        Both sides must be divisible by 32 (five poolings).
    width : float
        Multiplier of every conv layer's filters; 1.0 is VGG-19's 64..512.
    dense_units : int
        Units of each of the two fully connected layers (4096 in VGG-19).
    dropout : float
    head : {"flatten", "average"}
        What feeds the fully connected layers: VGG-19's flattened last block,
        or its average over frequency and time (global average pooling, as
        audio-tagging CNNs do), which does not tie a timbre to the absolute
        position of its partials and so generalises to unseen instruments.
    norm : {"none", "batch"}
        VGG-19 as published, or batch normalisation between each convolution
        and its ReLU (Ioffe & Szegedy 2015), as in PANNs' VGG-like CNN14 (Kong
        et al. 2020), which trains from scratch in a few epochs.  Either way
        ``blockB_convI`` names the ReLU output, so the perceptual layers keep
        their names.

    Call
    ----
    images : [batch, freq, frames, 1], values in [-1, 1]
    returns probabilities [batch, num_classes]
    """

    def __init__(self, num_classes=11, input_shape=(128, 128, 1), width=1.0, dense_units=4096,
                 dropout=0.5, head="flatten", norm="none", **kwargs):
        from soundtransform.errors import check_choice

        check_choice("head", head, HEADS)
        check_choice("norm", norm, NORMS)
        input_shape = tuple(int(s) for s in input_shape)
        inputs = keras.Input(input_shape, name="spectrogram")
        x = inputs
        for block, (n_convs, filters) in enumerate(zip(BLOCKS, FILTERS), start=1):
            units = max(1, int(round(filters * width)))
            for i in range(1, n_convs + 1):
                name = f"block{block}_conv{i}"
                if norm == "batch":
                    x = layers.Conv2D(units, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                                      name=f"{name}_linear")(x)
                    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
                    x = layers.Activation("relu", name=name)(x)
                else:
                    x = layers.Conv2D(units, 3, padding="same", activation="relu", kernel_initializer="he_normal",
                                      name=name)(x)
            x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        if head == "flatten":
            x = layers.Flatten(name="flatten")(x)
        else:
            x = layers.GlobalAveragePooling2D(name="flatten")(x)
        for i in (1, 2):
            x = layers.Dense(dense_units, activation="relu", kernel_initializer="he_normal", name=f"fc{i}")(x)
            x = layers.Dropout(dropout, name=f"dropout{i}")(x)
        outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
        super().__init__(inputs, outputs, **kwargs)
        self.num_classes = num_classes
        self.spectrogram_shape = input_shape
        self.width = width
        self.dense_units = dense_units
        self.dropout = dropout
        self.head = head
        self.norm = norm

    def get_config(self):
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "input_shape": self.spectrogram_shape,
            "width": self.width,
            "dense_units": self.dense_units,
            "dropout": self.dropout,
            "head": self.head,
            "norm": self.norm,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def feature_extractor(self, layer_names):
        """A model from the input image to the named layers' outputs (a list)."""
        unknown = [n for n in layer_names if n not in CONV_LAYERS + ("flatten", "fc1", "fc2")]
        if unknown:
            from soundtransform.errors import ParameterError

            raise ParameterError(f"unknown VGG-19 layers {unknown}; choose from {', '.join(CONV_LAYERS)}")
        outputs = [self.get_layer(n).output for n in layer_names]
        return keras.Model(self.inputs, outputs, name="vgg19_features")
