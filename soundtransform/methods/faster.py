"""Faster: a feed-forward transformation network trained with perceptual losses.

Johnson, Alahi & Fei-Fei, *Perceptual Losses for Real-Time Style Transfer and
Super-Resolution* (ECCV 2016), on spectrogram images as in Liu, Delany &
McKeever (CAIP 2019), with the energy and frequency constraints of Verma &
Smith (2018).  Instead of optimising each output (Slow), a `transform_net` is
trained once, on the source family's notes, to minimise::

    alpha * content  +  beta * style  +  gamma * energy  +  delta * frequency

``content``
    Feature reconstruction loss at ``content_layer`` against the input note
    itself (keep the pitch and timing of the input) or, with
    ``content_target="pitch"``, against the input's same-pitch target note:
    Johnson et al.'s feature reconstruction loss against a ground truth, as in
    their super-resolution task.
``style``
    Gram-matrix loss at ``style_layers`` against the target's Gram matrices.
``energy``, ``frequency``
    Squared distance of the output's temporal and spectral envelopes to the
    target's envelopes.

What "the target" is, is the ``style_target`` setting (`STYLE_TARGETS`):

``"family"``
    Johnson et al.'s single style: the target family's mean Gram matrices and
    envelopes, computed once from (up to ``style_notes`` of) its training
    notes.  Every output is pulled toward one average note of all pitches.
``"pitch"``
    Each training note is paired with a target-family note of the same pitch
    and velocity (`data.pair_notes`, from ``target_instruments`` as in the
    cgan), and its style terms are that note's Gram matrices and envelopes:
    a keyboard note *at the input's pitch*, as Slow uses one.  The network
    still takes only the source note, so conversion is unchanged.

What it trains on is the ``train_on`` setting, as for the GANs
(`cgan.TRAIN_ON`): single notes, windows of rendered phrases (``frames`` long;
with ``style_target="pitch"`` each paired with the same window of the same
melody rendered by the target instrument), or both, sampled in proportion.

The perceptual network is a trained `VGG19AudioClassifier` (``classifier``
setting, default ``exported_models/classifiers/perceptual.keras``); it stays
frozen.  The output is time-aligned with the input, so the export inverts it
with the input's phase.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from soundtransform import data, losses, phrases
from soundtransform.callbacks import ExampleSpectrograms
from soundtransform.errors import ParameterError, check_choice
from soundtransform.fileio import write_text
from soundtransform.methods import cgan
from soundtransform.methods.slow import load_perceptual_classifier, perceptual_features
from soundtransform.training.average import WeightAverage
from soundtransform.networks.transform_net import transform_net

ARTIFACT = cgan.GENERATOR_FILE  # "generator.keras": the cgan's judge selection keeps its best epoch beside it
BEST_ARTIFACT = cgan.best_file(ARTIFACT)  # with select_by="judge": the epoch the judge liked best on valid sources
TERMS = ("content", "style", "energy", "frequency")
STYLE_TARGETS = ("family", "pitch")  # one family-mean style, or a same-pitch target note per input
CONTENT_TARGETS = ("input", "pitch")  # the input's own features, or its same-pitch target note's


@keras.saving.register_keras_serializable(package="soundtransform")
class FasterStyleTransfer(keras.Model):
    """Owns the training of a transformation network (Johnson et al. 2016).

    Parameters
    ----------
    transform_net : keras.Model
        ``[batch, freq, frames, 1] -> [batch, freq, frames, 1]``; the only
        weights that are trained.
    features : keras.Model
        Frozen perceptual network: image -> ``[content_layer, *style_layers]``
        feature maps (`slow.perceptual_features`).
    style_grams : list of np.ndarray [shape=(1, channels, channels)]
        The target family's mean Gram matrix at each style layer.
    style_energy : np.ndarray [shape=(1, frames)] or [shape=(1, energy_bands, frames)]
        The target family's mean temporal envelope (image units), one per
        band with ``energy_bands`` above 1.
    style_frequency : np.ndarray [shape=(1, freq)]
        The target family's mean spectral envelope (image units).
    alpha, beta, gamma, delta : float
        Weights of the content, style, energy and frequency terms (Gatys et
        al.; Verma & Smith).
    energy_bands : int
        Bands of the energy constraint (`losses.temporal_envelope`): 1 is
        Verma & Smith's one envelope; more, one per mel-spaced band, as
        Slow's ``energy_bands`` (docs/history.md, "Nineteenth session").
    content_target : {"input", "pitch"}
        Whose features the content term matches: the input's, or the
        same-pitch target note's of each batch (needs ``(images,
        style_images)`` batches).
    ema_decay : float, optional
        Keep an exponential moving average of the transformation network's
        weights (`ema_transform_net`, as the cgan's `ema_generator`), updated
        after every step.  Retrained with the same command, Faster's share of
        test flutes judged keyboard spread over 25 points between runs; in
        one run the average scored 10 points above its own raw network
        (docs/history.md, "Sixteenth session").  None: no average, and
        `generator_to_export` is the network itself.
    """

    def __init__(self, transform_net, features, style_grams, style_energy, style_frequency,
                 alpha=1.0, beta=1.0, gamma=1.0, delta=1.0, energy_bands=1, content_target="input", ema_decay=None,
                 **kwargs):
        super().__init__(**kwargs)
        cgan.check_ema_decay(ema_decay)
        self.energy_bands = losses.check_bands(energy_bands)
        self.transform_net = transform_net
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.ema_transform_net = (None if ema_decay is None
                                  else WeightAverage(transform_net, self.ema_decay, name="ema_transform_net"))
        self.features = features
        self.features.trainable = False
        self.style_grams = [tf.constant(g, tf.float32) for g in style_grams]
        self.style_energy = tf.constant(style_energy, tf.float32)
        self.style_frequency = tf.constant(style_frequency, tf.float32)
        self.alpha, self.beta, self.gamma, self.delta = float(alpha), float(beta), float(gamma), float(delta)
        check_choice("content_target", content_target, CONTENT_TARGETS)
        self.content_target = content_target
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.term_trackers = {t: keras.metrics.Mean(name=t) for t in TERMS}

    @property
    def metrics(self):
        return [self.loss_tracker, *self.term_trackers.values()]

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta,
                "gamma": self.gamma, "delta": self.delta, "energy_bands": self.energy_bands,
                "content_target": self.content_target, "ema_decay": self.ema_decay}

    def generator_to_export(self):
        """What a run judges, saves and exports: the weight average when ``ema_decay`` is set, else the network.

        A method, not a property, for the reason `cgan.CGAN.generator_to_export` gives.
        """
        return self.ema_transform_net.average if self.ema_transform_net is not None else self.transform_net

    def call(self, images, training=False):
        return self.transform_net(images, training=training)

    def style_targets(self, style_images=None, style_features=None):
        """Gram matrices and envelopes the outputs are pulled toward.

        The family's means (``[1, ...]``) when ``style_images`` is None, else
        those of each style image ``[batch, freq, frames, 1]`` (``[batch, ...]``);
        ``style_features``, when given, are that image's perceptual features.
        """
        if style_images is None:
            return self.style_grams, self.style_energy, self.style_frequency
        if style_features is None:
            style_features = self.features(style_images, training=False)
        grams = [losses.gram_matrix(f) for f in style_features[1:]]
        return (grams, losses.temporal_envelope(style_images, self.energy_bands),
                losses.spectral_envelope(style_images))

    def perceptual_losses(self, images, outputs, style_images=None):
        """The four terms and their weighted total for inputs and outputs ``[batch, freq, frames, 1]``.

        ``style_images``: a same-pitch target note per input (``style_target="pitch"``), or None
        for the family's mean statistics.
        """
        style_features = None if style_images is None else self.features(style_images, training=False)
        if self.content_target == "pitch":
            if style_features is None:
                raise ParameterError("content_target=pitch needs a same-pitch target note per input "
                                     "(style_target=pitch)")
            content_target = style_features[0]
        else:
            content_target = self.features(images, training=False)[0]
        features = self.features(outputs, training=False)
        grams, energy, frequency = self.style_targets(style_images, style_features)
        terms = {
            "content": losses.content_loss(features[0], content_target),
            "style": losses.style_loss(features[1:], grams),
            "energy": losses.energy_loss(outputs, energy, self.energy_bands),
            "frequency": losses.frequency_loss(outputs, frequency),
        }
        total = (self.alpha * terms["content"] + self.beta * terms["style"]
                 + self.gamma * terms["energy"] + self.delta * terms["frequency"])
        return total, terms

    def _track(self, total, terms):
        self.loss_tracker.update_state(total)
        for name, value in terms.items():
            self.term_trackers[name].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    @staticmethod
    def _split(batch):
        """``images`` or ``(images, style_images)`` -> ``(images, style_images or None)``."""
        if isinstance(batch, (tuple, list)):
            return batch[0], batch[1]
        return batch, None

    def train_step(self, batch):
        images, style_images = self._split(batch)
        # 1. Transform the source notes.
        with tf.GradientTape() as tape:
            outputs = self.transform_net(images, training=True)
            # 2. Perceptual losses: content against the input, style and
            #    envelopes against the target family's statistics or, with
            #    style_target="pitch", against each input's same-pitch target note.
            total, terms = self.perceptual_losses(images, outputs, style_images)
            objective = losses.replica_scaled(total)
        # 3. One optimiser step on the transformation network only (the
        #    perceptual network is frozen).
        variables = self.transform_net.trainable_variables
        grads = tape.gradient(objective, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        # 4. The moving average of the weights follows the updated network.
        if self.ema_transform_net is not None:
            self.ema_transform_net.update(self.transform_net, self.optimizer.iterations)
        return self._track(total, terms)

    def test_step(self, batch):
        images, style_images = self._split(batch)
        # Validation describes what is exported: the average, when there is one.
        outputs = self.generator_to_export()(images, training=False)
        return self._track(*self.perceptual_losses(images, outputs, style_images))


# ------------------------------------------------------- method protocol


def make_datasets(root, config, source=None, target=None):
    """The source family's train and valid notes as images; the target's notes for the style statistics.

    With ``style_target="pitch"`` the datasets are ``(source image, target
    image)`` pairs of the same pitch and velocity instead (targets from the
    train split's ``target_instruments``, for valid pairs too).  With
    ``augment_gain_db`` or ``augment_noise_db`` set, the training sources (all,
    or with ``augment_on="notes"`` the notes' only) are drawn anew every epoch
    as the cgan's are (`cgan.augmented`); targets stay as rendered.
    """
    if not source or not target:
        raise ParameterError("faster needs --source and --target families (e.g. flute and keyboard)")
    if source == target:
        raise ParameterError(f"source and target are both {source!r}; choose two different families")
    use = cgan.train_on(config)
    cgan.check_ema_decay(config.get("ema_decay"))
    losses.check_bands(config.get("energy_bands", 1))
    cgan.check_augment(config)
    cgan.check_validation_sounds(root, source, selection_config(config))
    style_target = config.get("style_target", "family")
    check_choice("style_target", style_target, STYLE_TARGETS)
    content_target = config.get("content_target", "input")
    check_choice("content_target", content_target, CONTENT_TARGETS)
    if content_target == "pitch" and style_target != "pitch":
        raise ParameterError("content_target=pitch matches each input's same-pitch target note; "
                             "it needs --set style_target=pitch")
    if style_target == "pitch":
        return _pitch_pair_datasets(root, config, source, target)
    if config.get("target_instruments", "one") != "one":
        raise ParameterError("target_instruments chooses the same-pitch targets of style_target=pitch; "
                             "with style_target=family the style is the whole family's mean")
    shape = (config["freq_bins"], config["frames"])
    train_notes = data.load_notes(root, "train", families=[source]) if use != "phrases" else []
    valid_notes = data.select(data.read_split(root, "valid"), families=[source]) if use != "phrases" else []
    style_notes = data.load_notes(root, "train", families=[target])
    if config.get("style_notes") and len(style_notes) > config["style_notes"]:
        picks = np.random.default_rng(config.get("seed", 0)).choice(len(style_notes), config["style_notes"],
                                                                     replace=False)
        style_notes = [style_notes[i] for i in sorted(picks)]
    windows = {split: _source_windows(root, split, source, shape, use) for split in ("train", "valid")}
    notes_only = config.get("augment_on", "all") == "notes"
    datasets = {}
    for split, notes in (("train", train_notes), ("valid", valid_notes)):
        notes_dataset = data.image_dataset([n.path for n in notes], None, *shape) if notes else None
        if split == "train" and notes_only:
            notes_dataset = cgan.augmented(notes_dataset, config)
        windows_dataset, window_count, _ = windows[split]
        datasets[split] = cgan.mix([(notes_dataset, len(notes)), (windows_dataset, window_count)],
                                   config.get("seed", 0))
    train, valid = datasets["train"], datasets["valid"]
    if not notes_only:
        train = cgan.augmented(train, config)
    info = {
        "root": os.path.abspath(root),
        "source": source,
        "target": target,
        "train_on": use,
        "train_notes": len(train_notes),
        "valid_notes": len(valid_notes),
        "style_paths": [n.path for n in style_notes],
    }
    if use != "notes":
        info.update(train_phrases=windows["train"][2], valid_phrases=windows["valid"][2])
    return train, valid, info


def _source_windows(root, split, source, shape, use):
    """``(dataset of sounding windows, windows before the silence filter, phrases)`` of a split's source phrases.

    ``(None, 0, 0)`` when ``use`` is ``"notes"``, or for a valid split without phrases.
    """
    found = [] if use == "notes" else cgan.split_sounds(cgan.family_phrases, root, split, source)
    if not found:
        return None, 0, 0
    windows, starts = phrases.window_dataset([p.path for p in found], *shape)
    return windows.filter(phrases.is_sounding).cache(), len(found) * len(starts), len(found)


def _pitch_pair_datasets(root, config, source, target):
    """`make_datasets` for ``style_target="pitch"``: each source note with a same-pitch target note."""
    cgan.check_families("faster", source, target)
    use = cgan.train_on(config)
    shape = (config["freq_bins"], config["frames"])
    # The style statistics' fallback notes come from the chosen instrument even when training on phrases only.
    targets = cgan.family_notes(root, "train", target, config.get("target_instruments", "one"))
    phrase_targets = (cgan.family_phrases(root, "train", target, sorted({t.instrument_str for t in targets}))
                      if use != "notes" else [])
    notes_only = config.get("augment_on", "all") == "notes"
    pairs, unpaired, phrase_pairs, datasets = {}, {}, {}, {}
    for split in ("train", "valid"):
        found = cgan.split_pairs(root, split, source, target, targets, phrase_targets, use, max_targets=1,
                                 seed=config.get("seed", 0))
        pairs[split], unpaired[split], phrase_pairs[split] = found
        parts = []
        if pairs[split]:
            notes_dataset = cgan.pair_dataset(pairs[split], shape)
            if split == "train" and notes_only:
                notes_dataset = cgan.augmented(notes_dataset, config)
            parts.append((notes_dataset, len(pairs[split])))
        if phrase_pairs[split]:
            parts.append(cgan.phrase_pair_dataset(phrase_pairs[split], shape))
        datasets[split] = cgan.mix(parts, config.get("seed", 0))
    train, valid = datasets["train"], datasets["valid"]
    if not notes_only:
        train = cgan.augmented(train, config)
    info = {
        "root": os.path.abspath(root),
        "source": source,
        "target": target,
        "style_target": "pitch",
        "train_on": use,
        "target_instruments": sorted({t.instrument_str for t in targets}),
        "train_notes": len(pairs["train"]),
        "valid_notes": len(pairs["valid"]),
        "unpaired_train_notes": unpaired["train"],
        "unpaired_valid_notes": unpaired["valid"],
        # The model keeps mean statistics too (its fallback when a batch has no targets); a few notes do.
        "style_paths": [t.path for t in (cgan.evenly(targets, config["style_notes"]) if config.get("style_notes")
                                         else targets)],
    }
    if use != "notes":
        info.update(train_phrase_pairs=len(phrase_pairs["train"]), valid_phrase_pairs=len(phrase_pairs["valid"]))
    return train, valid, info


def style_statistics(features, paths, freq_bins, frames, batch_size=16, energy_bands=1):
    """Mean Gram matrices and envelopes of a family's notes, computed once.

    Parameters
    ----------
    features : keras.Model
        `slow.perceptual_features` for ``[content_layer, *style_layers]``.
    paths : list of str
        The target family's note files.

    Returns
    -------
    grams : list of np.ndarray [shape=(1, channels, channels)], one per style layer
    energy : np.ndarray [shape=(1, frames)], or [shape=(1, energy_bands, frames)]
    frequency : np.ndarray [shape=(1, freq_bins)]
    """
    sums, count = None, 0
    for images in data.image_dataset(paths, None, freq_bins, frames, cache=False).batch(batch_size):
        stats = [losses.gram_matrix(f) for f in features(images, training=False)[1:]]
        stats += [losses.temporal_envelope(images, energy_bands), losses.spectral_envelope(images)]
        batch_sums = [tf.reduce_sum(s, axis=0).numpy() for s in stats]
        sums = batch_sums if sums is None else [a + b for a, b in zip(sums, batch_sums)]
        count += int(images.shape[0])
    means = [s[None] / count for s in sums]
    return means[:-2], means[-2], means[-1]


def build(config, info):
    classifier = load_perceptual_classifier(config["classifier"])
    features = perceptual_features(classifier, [config["content_layer"], *config["style_layers"]])
    grams, energy, frequency = style_statistics(features, info["style_paths"], config["freq_bins"],
                                                config["frames"], energy_bands=config.get("energy_bands", 1))
    net = transform_net((config["freq_bins"], config["frames"], 1), width=config["width"],
                        residual_blocks=config["residual_blocks"], name="generator")
    if config.get("init_from"):  # fine-tuning, before the weight average copies the net
        from soundtransform.export import init_generator

        info["init_from_file"] = os.path.abspath(init_generator(net, config["init_from"]))
    model = FasterStyleTransfer(net, features, grams, energy, frequency, alpha=config["alpha"],
                                beta=config["beta"], gamma=config["gamma"], delta=config["delta"],
                                energy_bands=config.get("energy_bands", 1),
                                content_target=config.get("content_target", "input"),
                                ema_decay=config.get("ema_decay"), name="faster_style_transfer")
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]), jit_compile=config["jit_compile"])
    model.build((None, config["freq_bins"], config["frames"], 1))
    model.optimizer.build(net.trainable_variables)
    return model


def selection_config(config):
    """The settings `cgan`'s judge selection reads, for a Faster run: every valid source instrument, source phase.

    Faster exports invert with the input's phase, so the judge hears the
    validation notes (and phrase windows, when it trains on phrases) as a
    user's conversion would sound.
    """
    return {**config, "phase": "source", "source_instruments": "all", "train_on": cgan.train_on(config)}


def selection_callbacks(config, run_dir, info):
    """With ``select_by="judge"``, `cgan.selection_callbacks` keeping ``RUN_DIR/generator_best.keras``.

    Faster's validation losses do not track the judge (measured: val content
    flat at 0.11-0.12 over epochs 6-40 while the share of test flutes judged
    keyboard went 41 % -> 64 %), so the judge itself picks the epoch, hearing
    the valid sounds as `selection_config` says.
    """
    return cgan.selection_callbacks(selection_config(config), run_dir, info, raw=lambda m: m.transform_net)


def callbacks(model, config, run_dir, valid, info=None):
    found = selection_callbacks(config, run_dir, info)
    if valid is None:
        return found
    first = [FasterStyleTransfer._split(item)[0] for item in valid.take(config.get("examples", 4))]
    images = np.stack([image.numpy() for image in first])
    return [*found, ExampleSpectrograms(images, lambda m, x: {"output": m.generator_to_export()(x, training=False)},
                                        os.path.join(run_dir, "logs"))]


def finish(model, config, info, run_dir):
    """Save ``RUN_DIR/generator.keras`` and export ``faster_SOURCE_to_TARGET``: the last epoch's generator,
    or with ``select_by="judge"`` the best-judged epoch's (``generator_best.keras``); with ``ema_decay``,
    the weight average's."""
    from soundtransform.export import export_generator

    path = os.path.join(run_dir, ARTIFACT)
    cgan.save_generator(model.generator_to_export(), path)
    metadata = {
        "method": "faster",
        "preset": config.get("preset"),
        "source": info["source"],
        "target": info["target"],
        "freq_bins": config["freq_bins"],
        "frames": config["frames"],
        "losses": {**{k: config[k] for k in ("alpha", "beta", "gamma", "delta", "content_layer", "style_layers")},
                   "energy_bands": config.get("energy_bands", 1)},
        "style_target": config.get("style_target", "family"),
        "content_target": config.get("content_target", "input"),
        "classifier": os.path.abspath(config["classifier"]),
        "training_data": info,  # the notes, target instruments and style paths it trained on
        "config": config,
        "generator_file": os.path.abspath(path),
    }
    generator = cgan.selected_generator(model.generator_to_export(), config, run_dir, ARTIFACT, metadata)
    write_text(os.path.join(run_dir, "faster.json"), json.dumps(metadata, indent=1))
    version_dir = export_generator(generator, f"faster_{info['source']}_to_{info['target']}",
                                   metadata, base_dir=config.get("export_dir"), phase="source",
                                   input_peak_db=cgan.export_level(config))
    return {"generator": path, "export": version_dir, "selected": metadata.get("selected")}
