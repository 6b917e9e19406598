"""Loss terms, each a plain function of tensors, named as in the papers.

Images are ``[batch, freq, frames, 1]`` in [-1, 1]; feature maps are
``[batch, h, w, channels]``.  Methods weight these terms in their ``train_step``.
"""

import tensorflow as tf

# ------------------------------------------- perceptual losses (Slow, Faster)


def content_loss(features, target_features):
    """Feature reconstruction loss (Gatys et al. 2016; Johnson et al. 2016).

    Parameters
    ----------
    features, target_features : [batch, h, w, channels]
        One layer's activations for the output and for the content image.

    Returns
    -------
    scalar: mean squared difference.
    """
    return tf.reduce_mean(tf.square(features - target_features))


def gram_matrix(features):
    """Gram matrix of feature maps, normalised by the number of positions.

    Parameters
    ----------
    features : [batch, h, w, channels]

    Returns
    -------
    G : [batch, channels, channels], ``G_ij = sum_p F_pi F_pj / (h w)``.
        Normalising by positions makes Grams of clips of any length comparable.
    """
    shape = tf.shape(features)
    positions = tf.cast(shape[1] * shape[2], features.dtype)
    return tf.einsum("bhwi,bhwj->bij", features, features) / positions


def style_loss(features, target_grams):
    """Style reconstruction loss over several layers (Gatys et al. 2016).

    Parameters
    ----------
    features : list of [batch, h, w, channels]
        The output's activations at the style layers.
    target_grams : list of [batch or 1, channels, channels]
        The style's Gram matrices at the same layers.

    Returns
    -------
    scalar: the mean over layers of each layer's mean squared Gram difference.
    """
    terms = [tf.reduce_mean(tf.square(gram_matrix(f) - g)) for f, g in zip(features, target_grams)]
    return tf.add_n(terms) / len(terms)


def temporal_envelope(images):
    """Energy per frame: the image summed over frequency, divided by the row count.

    Parameters
    ----------
    images : [batch, freq, frames, 1], log-magnitude in [-1, 1]

    Returns
    -------
    [batch, frames]
    """
    return tf.reduce_mean(images[..., 0], axis=1)


def spectral_envelope(images):
    """Energy per frequency bin: the image summed over time, divided by the frame count.

    Parameters
    ----------
    images : [batch, freq, frames, 1], log-magnitude in [-1, 1]

    Returns
    -------
    [batch, freq]
    """
    return tf.reduce_mean(images[..., 0], axis=2)


def energy_loss(images, target_envelope):
    """Temporal energy constraint of Verma & Smith (2018).

    Squared distance between the output's `temporal_envelope` and the style's,
    averaged over frames, so the output takes the style's attack and decay.

    Parameters
    ----------
    images : [batch, freq, frames, 1]
    target_envelope : [batch or 1, frames]
    """
    return tf.reduce_mean(tf.square(temporal_envelope(images) - target_envelope))


def frequency_loss(images, target_envelope):
    """Frequency energy constraint of Verma & Smith (2018).

    Squared distance between the output's `spectral_envelope` and the style's,
    averaged over bins, so the output takes the style's overall timbre.

    Parameters
    ----------
    images : [batch, freq, frames, 1]
    target_envelope : [batch or 1, freq]
    """
    return tf.reduce_mean(tf.square(spectral_envelope(images) - target_envelope))
