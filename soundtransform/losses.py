"""Loss terms, each a plain function of tensors, named as in the papers.

Images are ``[batch, freq, frames, 1]`` in [-1, 1]; feature maps are
``[batch, h, w, channels]``.  Methods weight these terms in their ``train_step``.
"""

import tensorflow as tf

from soundtransform import audio

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


def band_matrix(freq_bins, bands):
    """Rows of a spectrogram image averaged into ``bands`` mel-spaced bands.

    Row ``r`` lies at ``r * SAMPLE_RATE / N_FFT`` Hz (31.25 Hz a row); the
    bands split the rows' range evenly on the mel scale (HTK's
    ``2595 log10(1 + f / 700)``), so low bands hold a few rows (single
    harmonics of low notes) and high ones many.  A band that no row falls in
    is a zero column (its envelope is 0 for the output and the target alike).

    Parameters
    ----------
    freq_bins : int or scalar tensor
        Rows of the image (the lowest ``freq_bins`` bins).
    bands : int
        1 gives the plain mean over all rows.

    Returns
    -------
    [freq_bins, bands] float32, each non-empty column summing to 1.
    """
    hz = tf.range(freq_bins, dtype=tf.float32) * (audio.SAMPLE_RATE / audio.N_FFT)
    mel = 2595.0 * tf.math.log(1.0 + hz / 700.0)
    top = 2595.0 * tf.math.log(1.0 + tf.cast(freq_bins, tf.float32) * (audio.SAMPLE_RATE / audio.N_FFT) / 700.0)
    band = tf.minimum(tf.cast(tf.floor(mel / top * bands), tf.int32), bands - 1)
    members = tf.one_hot(band, bands)
    return members / tf.maximum(tf.reduce_sum(members, axis=0, keepdims=True), 1.0)


def temporal_envelope(images, bands=1):
    """Energy per frame: the image averaged over frequency (Verma & Smith), or over each of ``bands`` bands.

    Parameters
    ----------
    images : [batch, freq, frames, 1], log-magnitude in [-1, 1]
    bands : int
        1: Verma & Smith's envelope, one value a frame.  More: one envelope
        per mel-spaced band (`band_matrix`), so each region of the spectrum
        keeps its own attack and decay (a keyboard's upper partials die away
        faster than its fundamental; a single envelope cannot say so).

    Returns
    -------
    [batch, frames] for ``bands == 1``; [batch, bands, frames] otherwise.
    """
    if bands == 1:
        return tf.reduce_mean(images[..., 0], axis=1)
    return tf.einsum("bft,fk->bkt", images[..., 0], band_matrix(tf.shape(images)[1], bands))


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


def energy_loss(images, target_envelope, bands=1):
    """Temporal energy constraint of Verma & Smith (2018).

    Squared distance between the output's `temporal_envelope` and the style's,
    averaged over frames (and bands), so the output takes the style's attack
    and decay.

    Parameters
    ----------
    images : [batch, freq, frames, 1]
    target_envelope : [batch or 1, frames], or [batch or 1, bands, frames]
        ``temporal_envelope(style, bands)``.
    bands : int
        As in `temporal_envelope`.
    """
    return tf.reduce_mean(tf.square(temporal_envelope(images, bands) - target_envelope))


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


# ------------------------------------------------ pitch anchor (CycleGAN)

PITCH_WIDTH = 9


def fine_structure(images, width=PITCH_WIDTH):
    """The image minus its moving average over ``width`` frequency rows.

    What is left are the harmonic peaks and the valleys between them, without
    the smooth spectral envelope that carries most of the timbre (the image
    analogue of a cepstral lifter).  At 31.25 Hz a row (``N_FFT`` 512 at 16 kHz),
    9 rows span 281 Hz.

    Parameters
    ----------
    images : [batch, freq, frames, 1]
    width : int
        Rows averaged; padding rows at the edges are not counted.

    Returns
    -------
    [batch, freq, frames, 1]
    """
    return images - tf.nn.avg_pool2d(images, (width, 1), 1, "SAME")


def pitch_loss(images, source_images, width=PITCH_WIDTH):
    """One minus the cosine between the fine structures of two images, per frame.

    Frames are weighted by the source's energy (rows mapped from [-1, 1] to
    [0, 1] and averaged), so silence does not count.  The cosine ignores how
    deep the valleys are and how the envelope changes, so a keyboard note keeps
    a low loss against a flute of the same pitch while moved harmonics do not:
    on 28 rendered training flutes against keyboard_acoustic_130 (width 9) the
    cosine was 0.71 +- 0.13 at the same pitch and 0.05 +- 0.13 at another.

    Parameters
    ----------
    images, source_images : [batch, freq, frames, 1] in [-1, 1]
    width : int
        See `fine_structure`.

    Returns
    -------
    scalar in [0, 2].
    """
    a = fine_structure(images, width)[..., 0]
    b = fine_structure(source_images, width)[..., 0]
    dot = tf.reduce_sum(a * b, axis=1)
    norms = tf.sqrt(tf.reduce_sum(tf.square(a), axis=1) * tf.reduce_sum(tf.square(b), axis=1))
    cosine = dot / (norms + 1e-6)
    weights = tf.reduce_mean((source_images[..., 0] + 1.0) * 0.5, axis=1)
    return 1.0 - tf.reduce_sum(weights * cosine) / (tf.reduce_sum(weights) + 1e-6)


# ------------------------------------------- adversarial losses (cGAN, CycleGAN)

GAN_MODES = ("bce", "lsgan")


def adversarial_loss(logits, real, gan_mode="bce"):
    """Adversarial loss of discriminator logits against "real" or "fake" labels.

    ``gan_mode="bce"`` is the sigmoid cross-entropy of pix2pix (Goodfellow et
    al. 2014; Isola et al. 2017); ``"lsgan"`` is the least-squares loss
    (Mao et al. 2017) that CycleGAN uses for stabler training.

    Parameters
    ----------
    logits : [batch, h, w, 1]
        PatchGAN outputs, one per patch, before any sigmoid.
    real : bool
        Label every patch real (True) or fake (False).  The discriminator
        minimises ``adversarial_loss(D(real), True) + adversarial_loss(D(fake), False)``;
        the generator minimises ``adversarial_loss(D(fake), True)``.
    gan_mode : {"bce", "lsgan"}

    Returns
    -------
    scalar, the mean over patches and batch.
    """
    from soundtransform.errors import check_choice

    check_choice("gan_mode", gan_mode, GAN_MODES)
    labels = tf.ones_like(logits) if real else tf.zeros_like(logits)
    if gan_mode == "lsgan":
        return tf.reduce_mean(tf.square(logits - labels))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def l1_loss(images, target_images):
    """Mean absolute difference of two image batches (pix2pix's L1 term).

    Parameters
    ----------
    images, target_images : [batch, freq, frames, 1] in [-1, 1]
    """
    return tf.reduce_mean(tf.abs(images - target_images))


def cycle_loss(real_images, cycled_images):
    """Cycle-consistency loss ``||F(G(x)) - x||_1`` (Zhu et al. 2017, eq. 2).

    Parameters
    ----------
    real_images, cycled_images : [batch, freq, frames, 1] in [-1, 1]
    """
    return l1_loss(cycled_images, real_images)


def identity_loss(real_images, same_images):
    """Identity mapping loss ``||G(y) - y||_1`` (Zhu et al. 2017, section 5.2).

    A generator fed an image already in its output domain should leave it
    alone; on spectrograms this keeps loudness and pitch from drifting.

    Parameters
    ----------
    real_images, same_images : [batch, freq, frames, 1] in [-1, 1]
    """
    return l1_loss(same_images, real_images)


# ---------------------------------------------------------- distribution


def replica_scaled(loss):
    """``loss`` divided by the number of replicas training in sync.

    Under `tf.distribute` each replica takes the mean over its share of the
    global batch and the optimiser sums the replicas' gradients; dividing by
    the replica count makes the update the gradient of the global-batch mean.
    Apply it to the objective a tape differentiates, not to logged values.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / tf.cast(replicas, loss.dtype) if replicas > 1 else loss
