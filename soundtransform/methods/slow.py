"""Slow: optimise the spectrogram image itself (Gatys et al. 2016, on audio).

Gatys, Ecker & Bethge, *Image Style Transfer Using Convolutional Neural
Networks* (CVPR 2016), with the energy and frequency constraints of Verma &
Smith, *Neural Style Transfer for Audio Spectrograms* (NIPS workshop 2017/2018),
as applied to instrument timbre by Liu, Delany & McKeever (CAIP 2019).

Starting from the content spectrogram (or from noise), Adam changes the pixels
of one image to minimise::

    alpha * content  +  beta * style  +  gamma * energy  +  delta * frequency

``content``
    Squared difference of one deep layer's feature maps (``content_layer``)
    between the image and the content sound.
``style``
    Squared difference of the Gram matrices of several layers
    (``style_layers``) between the image and the style sound.
``energy``
    Squared difference of the temporal energy envelopes (per frame, averaged
    over frequency) of the image and the style sound; with ``energy_bands``
    above 1, of one envelope per mel-spaced band (`losses.temporal_envelope`).
``frequency``
    Squared difference of the spectral envelopes (per bin, summed over time).

The features come from the conv layers of a trained `VGG19AudioClassifier`,
applied fully convolutionally: the whole spectrogram of a clip of any length
(all `audio.N_FREQ` rows, every frame) is optimised at once, no windows and no
seams.  The classifier's own input size only matters to its dense layers,
which are not used.  The optimised image has no phase; it is inverted with
Griffin-Lim started from the content sound's phase (see `stylize`).

There is nothing to train, so Slow is not in the training registry; `stylize`
is the entry point (and ``soundtransform convert --method slow``).
"""

import os

import keras
import numpy as np
import tensorflow as tf

from soundtransform import audio, losses, presets, tuning
from soundtransform.errors import DataError, ParameterError, check_choice
from soundtransform.methods.classifier import load_perceptual_classifier, perceptual_features, perceptual_path

INITS = presets.INITS


class SlowStyleTransfer:
    """Gatys-style optimisation of a spectrogram image, with Verma & Smith's constraints.

    Parameters
    ----------
    classifier : VGG19AudioClassifier
        Its conv layers are the perceptual space; it is never changed.
    content_layer : str
    style_layers : sequence of str
    alpha, beta, gamma, delta : float
        Weights of the content, style, energy and frequency terms, named as in
        Gatys et al. (alpha, beta) and Verma & Smith (gamma, delta).
    energy_bands : int
        Bands of the energy constraint: 1 is Verma & Smith's one envelope
        over all frequencies; more gives each mel-spaced band its own
        envelope, so the output's partials decay band by band as the style's.
    learning_rate : float
        Adam's step size, in image units (the image spans [-1, 1], 80 dB).
    jit_compile : bool
        XLA for the optimisation step.
    """

    def __init__(self, classifier, content_layer="block4_conv2",
                 style_layers=("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1"),
                 alpha=1.0, beta=1.0, gamma=0.0, delta=0.0, energy_bands=1, learning_rate=0.02,
                 jit_compile=True):
        self.energy_bands = presets.check_bands(energy_bands)
        self.content_layer = content_layer
        self.style_layers = tuple(style_layers)
        self.alpha, self.beta, self.gamma, self.delta = float(alpha), float(beta), float(gamma), float(delta)
        self.learning_rate = float(learning_rate)
        self.classifier = classifier
        self.features = perceptual_features(classifier, [content_layer, *self.style_layers])
        # Traced once for clips of any length: the frame (and feature-map
        # width) axes are left unknown, so a folder of clips of several
        # lengths does not trace again per length.
        self._jit_compile = jit_compile
        self._step = None

    # ------------------------------------------------------------ targets

    def targets(self, content_image, style_image):
        """What the output is compared with, computed once per clip.

        Parameters
        ----------
        content_image, style_image : [1, freq, frames, 1]
            Same ``freq`` rows; the style's frames are only used through
            length-free statistics, except by the energy term, which needs the
            same number of frames (see `stylize`).
        """
        content_features = self.features(content_image)[0]
        style_features = self.features(style_image)[1:]
        return {
            "content": content_features,
            "grams": [losses.gram_matrix(f) for f in style_features],
            "energy": losses.temporal_envelope(style_image, self.energy_bands),
            "frequency": losses.spectral_envelope(style_image),
        }

    def loss_terms(self, image, targets):
        """The four unweighted terms and their weighted ``total`` for ``image [1, freq, frames, 1]``."""
        features = self.features(image)
        terms = {
            "content": losses.content_loss(features[0], targets["content"]),
            "style": losses.style_loss(features[1:], targets["grams"]),
            "energy": losses.energy_loss(image, targets["energy"], self.energy_bands),
            "frequency": losses.frequency_loss(image, targets["frequency"]),
        }
        terms["total"] = (self.alpha * terms["content"] + self.beta * terms["style"]
                          + self.gamma * terms["energy"] + self.delta * terms["frequency"])
        return terms

    # --------------------------------------------------------------- loop

    def _adam_step(self, image, m, v, t, targets):
        # 1. The loss of the current image and its gradient with respect to the pixels.
        with tf.GradientTape() as tape:
            tape.watch(image)
            terms = self.loss_terms(image, targets)
        grad = tape.gradient(terms["total"], image)
        # 2. One Adam step on the pixels (Kingma & Ba 2015), kept inside the image range.
        t = t + 1.0
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * tf.square(grad)
        m_hat = m / (1.0 - tf.pow(0.9, t))
        v_hat = v / (1.0 - tf.pow(0.999, t))
        image = tf.clip_by_value(image - self.learning_rate * m_hat / (tf.sqrt(v_hat) + 1e-8), -1.0, 1.0)
        return image, m, v, t, terms

    def _traced_step(self, *args):
        if self._step is None:
            signature = _signature(*args)
            self._step = tf.function(self._adam_step, input_signature=signature, jit_compile=self._jit_compile)
        return self._step(*args)

    def __call__(self, content_image, style_image, steps=200, init="content", seed=0, progress=False):
        """Optimise an image.

        Parameters
        ----------
        content_image, style_image : [1, freq, frames, 1], values in [-1, 1]
        steps : int
            Adam steps.
        init : {"content", "noise"}
            Start from the content image, or from Gaussian noise with the
            content image's mean and standard deviation (Gatys et al.).
        seed : int
            Seed of the noise.
        progress : bool
            A tqdm progress bar with the current loss.

        Returns
        -------
        image : tf.Tensor [1, freq, frames, 1]
        history : dict of lists, each term (and ``total``) before every step
            and after the last one (``steps + 1`` values).
        """
        from tqdm.auto import tqdm

        check_choice("init", init, INITS)
        if int(steps) < 0:
            raise ParameterError(f"steps must be 0 or more, got {steps}")
        content_image = tf.convert_to_tensor(content_image, tf.float32)
        style_image = tf.convert_to_tensor(style_image, tf.float32)
        targets = self.targets(content_image, style_image)
        if init == "content":
            image = content_image
        else:
            mean, std = tf.reduce_mean(content_image), tf.math.reduce_std(content_image)
            noise = keras.random.normal(tf.shape(content_image), seed=keras.random.SeedGenerator(seed))
            image = tf.clip_by_value(mean + std * noise, -1.0, 1.0)
        m, v, t = tf.zeros_like(image), tf.zeros_like(image), tf.constant(0.0)
        steps_terms = []
        bar = tqdm(total=int(steps), desc="slow style transfer", unit="step", disable=not progress, leave=False)
        with bar:
            for _ in range(int(steps)):
                image, m, v, t, terms = self._traced_step(image, m, v, t, targets)
                steps_terms.append(terms)
                if progress:  # reading the loss waits for the step; only for the bar
                    bar.set_postfix(loss=f"{float(terms['total']):.4g}", refresh=False)
                bar.update(1)
        steps_terms.append(self.loss_terms(image, targets))
        history = {key: [float(terms[key]) for terms in steps_terms] for key in steps_terms[-1]}
        return image, history


def _any_length(x):
    """The spec of ``x`` with its frequency and time axes left open.

    Images and feature maps are ``[1, freq, frames, channels]``, envelopes
    ``[1, frames]`` or ``[1, freq]``; Gram matrices ``[1, c, c]`` keep their shape.
    """
    shape = x.shape.as_list()
    if len(shape) == 4:
        shape[1:3] = None, None
    elif len(shape) == 2:
        shape[1] = None
    return tf.TensorSpec(shape, x.dtype)


def _signature(image, m, v, t, targets):
    """`_any_length` of every argument of the step; banded envelopes ``[1, bands, frames]`` open in time."""
    targets = dict(tf.nest.map_structure(_any_length, targets))
    energy = targets["energy"].shape.as_list()
    if len(energy) == 3:
        targets["energy"] = tf.TensorSpec([energy[0], energy[1], None], tf.float32)
    return (*(_any_length(x) for x in (image, m, v, t)), targets)


_LAST = {}  # the last SlowStyleTransfer that `stylize` built, and what it was built from


def _transfer(classifier, config):
    """A `SlowStyleTransfer` for ``config``; the last one again if nothing changed.

    ``convert --method slow`` on a folder calls `stylize` once per file.
    Reusing the transfer keeps the loaded classifier and the traced
    optimisation step (which took 2-3 s per file on 2 busy cores).
    """
    if classifier is None or isinstance(classifier, (str, os.PathLike)):
        path = perceptual_path(classifier if classifier is not None else config["classifier"])
        source = ("file", os.path.abspath(path), os.path.getmtime(path))
    else:
        source = ("object", id(classifier))
    key = (source, config["content_layer"], tuple(config["style_layers"]), float(config["alpha"]),
           float(config["beta"]), float(config["gamma"]), float(config["delta"]), int(config["energy_bands"]),
           float(config["learning_rate"]), bool(config["jit_compile"]))
    last = _LAST.get("transfer")
    if last is not None and _LAST["key"] == key and (source[0] == "file" or last.classifier is classifier):
        return last
    transfer = SlowStyleTransfer(
        load_perceptual_classifier(path if source[0] == "file" else classifier),
        content_layer=config["content_layer"], style_layers=config["style_layers"],
        alpha=config["alpha"], beta=config["beta"], gamma=config["gamma"], delta=config["delta"],
        energy_bands=config["energy_bands"], learning_rate=config["learning_rate"], jit_compile=config["jit_compile"],
    )
    _LAST.update(transfer=transfer, key=key)
    return transfer


def stylize(content, style, classifier=None, preset="default", steps=None, alpha=None, beta=None,
            gamma=None, delta=None, init=None, phase=None, progress=True, return_history=False, **overrides):
    """Give ``content`` the timbre of ``style`` by Slow style transfer (waveform in, waveform out).

    Parameters
    ----------
    content, style : np.ndarray [shape=(samples,)], float32 at `audio.SAMPLE_RATE`
        Any lengths.  The whole content spectrogram is optimised at once (the
        perceptual network is fully convolutional).  The style is cropped or
        zero-padded to the content's length so that its temporal envelope
        lines up frame by frame with the content's (energy constraint); the
        other terms do not depend on its length.  With ``style_pitch="match"``
        (the default preset's) it is first transposed to the content's median
        pitch (`tuning.match_pitch`), so a style note at any pitch keeps the
        content's.
    classifier : VGG19AudioClassifier or path, optional
        The perceptual network; default `classifier.DEFAULT_PERCEPTUAL`.
    preset : str
        Defaults of every option (`presets.resolve("slow", preset)`).
    steps : int
        Adam steps.
    alpha, beta, gamma, delta : float
        Weights of the content, style, energy and frequency terms.
    init : {"content", "noise"}
        Starting image.
    phase : {"griffin-lim", "source"}
        ``"griffin-lim"`` estimates a phase for the new magnitudes, started
        from the content's phase; ``"source"`` keeps the content's phase.
    progress : bool
        tqdm progress bar of the optimisation.
    return_history : bool
        Also return the per-step loss terms.
    **overrides
        Other settings of the preset (``energy_bands``, ``style_pitch``, ``learning_rate``,
        ``content_layer``, ``style_layers``, ``griffin_lim_iters``, ``seed``,
        ``jit_compile``).

    Returns
    -------
    y : np.ndarray [shape=(len(content),)], float32
    history : dict of lists (only with ``return_history``)
    """
    config = presets.resolve("slow", preset, steps=steps, alpha=alpha, beta=beta, gamma=gamma, delta=delta,
                             init=init, phase=phase, **overrides)
    content = _check_waveform("content", content)
    style = _check_waveform("style", style)
    if config["style_pitch"] == "match":
        style, _ = tuning.match_pitch(style, content)
    style = audio.fit_length(style, len(content))
    transfer = _transfer(classifier, config)
    content_image, content_phase = audio.waveform_to_image(content)
    style_image, _ = audio.waveform_to_image(style)
    image, history = transfer(content_image[None], style_image[None], steps=config["steps"], init=config["init"],
                              seed=config["seed"], progress=progress)
    y = audio.image_to_waveform(image[0], len(content), phase=config["phase"], source_phase=content_phase,
                                n_iter=config["griffin_lim_iters"]).numpy()
    return (y, history) if return_history else y


def _check_waveform(name, y):
    y = np.asarray(y, np.float32)
    if y.ndim != 1:
        raise ParameterError(f"{name} must be a mono waveform [samples], got shape {y.shape}")
    if len(y) < audio.N_FFT:
        raise DataError(f"{name} is {len(y)} samples long; at least {audio.N_FFT} are needed")
    if not np.all(np.isfinite(y)):
        raise DataError(f"{name} contains NaN or infinite samples")
    return y
