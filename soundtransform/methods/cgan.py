"""pix2pix (Isola et al. 2017): paired translation of spectrogram images.

A U-Net generator learns to map a source-family note to the target-family note
of the same pitch and velocity, judged by a conditional PatchGAN that sees the
source stacked with a real or a generated target.  This is *translation*, not
style transfer: the generator does not take a style image; it learns one fixed
mapping from the training pairs, so what it produces is the average of the
targets it was shown for each input.  Training on one consistent target
instrument (``target_instruments="one"``) keeps attacks sharp; averaging
several keyboards blurs them.

The module also holds the pieces CycleGAN shares: choosing source and target
notes, saving generators each epoch, and export.
"""

import collections
import json
import numbers
import os

import keras
import numpy as np
import tensorflow as tf

from soundtransform import audio, data, losses, phrases
from soundtransform.callbacks import ExampleSpectrograms, SelectByJudge
from soundtransform.errors import DataError, ParameterError, check_choice
from soundtransform.fileio import atomic_path, write_text
from soundtransform.training.average import WeightAverage
from soundtransform.networks.patchgan import PatchGAN
from soundtransform.networks.unet import UNet

GENERATOR_FILE = "generator.keras"
SELECT_BY = ("last", "judge")  # which epoch's generator a run exports


def best_file(filename):
    """Where `SelectByJudge` keeps the best-judged epoch of ``filename``: ``generator.keras -> generator_best.keras``."""
    stem, ext = os.path.splitext(filename)
    return f"{stem}_best{ext}"


BEST_GENERATOR_FILE = best_file(GENERATOR_FILE)
METRICS_FILE = "metrics.json"  # the last epoch's logs; export.export_run reads it too
TRAIN_ON = ("notes", "phrases", "both")  # what the GANs train on: NSynth notes, windows of phrases, or both


@keras.saving.register_keras_serializable(package="soundtransform")
class CGAN(keras.Model):
    """Owns the training of a pix2pix generator and its conditional discriminator.

    Parameters
    ----------
    generator : keras.Model
        ``[batch, freq, frames, 1] -> [batch, freq, frames, 1]`` (a `UNet`).
    discriminator : keras.Model
        ``[batch, freq, frames, 2] -> logits [batch, h, w, 1]`` (a `PatchGAN`
        on the source and target images stacked as channels).
    lambda_l1 : float
        Weight of the L1 term in the generator's objective (100 in pix2pix,
        eq. 4: ``G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G)``).
    lambda_energy : float
        Weight of the energy constraint of Verma & Smith (2018)
        (`losses.energy_loss`): the squared distance between the output's
        and the target's temporal envelopes (the image averaged over
        frequency, frame by frame), so the output takes the target's attack
        and decay even where the pixel-wise L1 tolerates errors that cancel.
        0 (the default) leaves pix2pix's objective as it is; the term is
        logged as ``energy_loss`` either way.
    energy_bands : int
        Envelopes of the energy constraint: 1 (Verma & Smith's, over all
        rows) or one per mel-spaced band (`losses.temporal_envelope`), so
        each part of the spectrum takes the target's attack and decay.
    gan_mode : {"bce", "lsgan"}
        The adversarial loss (`losses.adversarial_loss`); pix2pix uses ``"bce"``.
    ema_decay : float, optional
        Keep an exponential moving average of the generator's weights
        (`ema_generator`, Karras et al. 2018; Yazici et al. 2019), updated
        after every step with decay ``min(ema_decay, (1 + t) / (10 + t))`` at
        step ``t``.  GAN generators swing from epoch to epoch; the average
        swings less.  None: no average; `generator_to_export` is the generator.

    Call
    ----
    images : [batch, freq, frames, 1] source images -> generated target images.
    """

    def __init__(self, generator, discriminator, lambda_l1=100.0, gan_mode="bce", ema_decay=None,
                 lambda_energy=0.0, energy_bands=1, **kwargs):
        super().__init__(**kwargs)
        check_weight("lambda_energy", lambda_energy)
        self.energy_bands = losses.check_bands(energy_bands)
        check_choice("gan_mode", gan_mode, losses.GAN_MODES)
        check_ema_decay(ema_decay)
        self.generator = generator
        self.discriminator = discriminator
        self.lambda_l1 = float(lambda_l1)
        self.lambda_energy = float(lambda_energy)
        self.gan_mode = gan_mode
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.ema_generator = (None if ema_decay is None
                              else WeightAverage(generator, self.ema_decay, name="ema_generator"))
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.g_gan_loss_tracker = keras.metrics.Mean(name="g_gan_loss")
        self.l1_loss_tracker = keras.metrics.Mean(name="l1_loss")
        self.energy_loss_tracker = keras.metrics.Mean(name="energy_loss")

    def compile(self, generator_optimizer, discriminator_optimizer, **kwargs):
        # Keras' own ``optimizer`` stays None: each network has its own, and
        # both are tracked attributes, so checkpoints hold both states.
        super().compile(optimizer=None, **kwargs)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer

    def build_optimizers(self):
        """Create both optimisers' variables now, so a checkpoint can be restored into them."""
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.g_gan_loss_tracker, self.l1_loss_tracker,
                self.energy_loss_tracker]

    def generator_to_export(self):
        """What a run judges, saves and exports: the weight average when ``ema_decay`` is set, else the generator.

        A method, not a property: Keras' weight saving walks the model's
        attributes, and a property would store the generator under a second name.
        """
        return self.ema_generator.average if self.ema_generator is not None else self.generator

    def call(self, images, training=False):
        return self.generator(images, training=training)

    def discriminate(self, source, target, training=False):
        """PatchGAN logits of (source, target) pairs: ``[batch, h, w, 1]``."""
        return self.discriminator(tf.concat([source, target], axis=-1), training=training)

    def train_discriminator(self, source, target):
        """Step 1: teach D to tell real pairs from generated ones.

        The objective is halved, as in pix2pix, to slow D relative to G.
        """
        fake = self.generator(source, training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminate(source, target, training=True)
            fake_logits = self.discriminate(source, fake, training=True)
            d_loss = 0.5 * (losses.adversarial_loss(real_logits, True, self.gan_mode)
                            + losses.adversarial_loss(fake_logits, False, self.gan_mode))
            objective = losses.replica_scaled(d_loss)
        grads = tape.gradient(objective, self.discriminator.trainable_variables)
        self.discriminator_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        return d_loss

    def generator_objective(self, source, target, fake, training=False):
        """G's loss terms: ``(g_loss, g_gan_loss, l1_loss, energy_loss)``, ``g_loss`` their weighted sum."""
        fake_logits = self.discriminate(source, fake, training=training)
        g_gan_loss = losses.adversarial_loss(fake_logits, True, self.gan_mode)
        l1_loss = losses.l1_loss(fake, target)
        energy_loss = losses.energy_loss(fake, losses.temporal_envelope(target, self.energy_bands),
                                         self.energy_bands)
        g_loss = g_gan_loss + self.lambda_l1 * l1_loss + self.lambda_energy * energy_loss
        return g_loss, g_gan_loss, l1_loss, energy_loss

    def train_generator(self, source, target):
        """Step 2: teach G to fool the updated D and to stay near the real target (L1, energy envelope)."""
        with tf.GradientTape() as tape:
            fake = self.generator(source, training=True)
            terms = self.generator_objective(source, target, fake, training=True)
            objective = losses.replica_scaled(terms[0])
        grads = tape.gradient(objective, self.generator.trainable_variables)
        self.generator_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return terms

    def train_step(self, batch):
        source, target = batch
        # 1. D learns to tell (source, real target) from (source, G(source)).
        d_loss = self.train_discriminator(source, target)
        # 2. G learns to fool the updated D while staying near the real target.
        g_loss, g_gan_loss, l1_loss, energy_loss = self.train_generator(source, target)
        # 3. the moving average of G's weights follows the updated G.
        if self.ema_generator is not None:
            self.ema_generator.update(self.generator, self.generator_optimizer.iterations)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.g_gan_loss_tracker.update_state(g_gan_loss)
        self.l1_loss_tracker.update_state(l1_loss)
        self.energy_loss_tracker.update_state(energy_loss)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, batch):
        source, target = batch
        # Validation describes what is exported: the average, when there is one.
        fake = self.generator_to_export()(source, training=False)
        real_logits = self.discriminate(source, target)
        fake_logits = self.discriminate(source, fake)
        d_loss = 0.5 * (losses.adversarial_loss(real_logits, True, self.gan_mode)
                        + losses.adversarial_loss(fake_logits, False, self.gan_mode))
        g_loss, g_gan_loss, l1_loss, energy_loss = self.generator_objective(source, target, fake)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.g_gan_loss_tracker.update_state(g_gan_loss)
        self.l1_loss_tracker.update_state(l1_loss)
        self.energy_loss_tracker.update_state(energy_loss)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {
            "name": self.name,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "lambda_l1": self.lambda_l1,
            "lambda_energy": self.lambda_energy,
            "energy_bands": self.energy_bands,
            "gan_mode": self.gan_mode,
            "ema_decay": self.ema_decay,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def check_weight(name, value):
    """A loss weight is a finite number >= 0; `ParameterError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < float("inf"):
        raise ParameterError(f"{name} must be a number, 0 or more, not {value!r}")


def check_ema_decay(value):
    """``ema_decay`` is None or a number strictly between 0 and 1; `ParameterError` otherwise."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
        raise ParameterError(f"ema_decay must be between 0 and 1 (exclusive) or None, not {value!r}")


# ------------------------------------------------------------------- data


def check_families(method, source, target):
    """Both families given, known and different; `ParameterError` otherwise."""
    if not source or not target:
        raise ParameterError(f"{method} translates between two families: give --source and --target (e.g. flute, keyboard)")
    for family in (source, target):
        check_choice("family", family, data.FAMILIES)
    if source == target:
        raise ParameterError(f"source and target are both {source!r}; choose two different families")


def _choose_instruments(counts, family, split, instruments, what="notes"):
    """The instrument names that ``instruments`` picks from ``counts`` (name -> clips); see `family_notes`."""
    if instruments == "one":
        return [min(counts, key=lambda name: (-counts[name], name))]
    if isinstance(instruments, (list, tuple)):
        wanted = list(instruments)
    else:
        wanted = [s.strip() for s in str(instruments).split(",") if s.strip()]
    unknown = [w for w in wanted if w not in counts]
    if unknown or not wanted:
        raise DataError(
            f"no {family} instrument {', '.join(unknown) or repr(instruments)} with {what} in split {split!r}; "
            f"choose 'all', 'one' or from: {', '.join(sorted(counts))}"
        )
    return wanted


def family_notes(root, split, family, instruments="all"):
    """The notes of one family in one split, optionally of some instruments only.

    Parameters
    ----------
    instruments : str
        ``"all"``; ``"one"``: the split's instrument with the most notes (the
        first by name on a tie), so every target note comes from one consistent
        instrument; or comma-separated ``instrument_str`` values, e.g.
        ``"keyboard_acoustic_128"``.

    Raises
    ------
    DataError
        No notes of ``family`` in the split, or none of the named instruments.
    """
    notes = data.select(data.read_split(root, split), families=[family])
    if not notes:
        raise DataError(f"no {family} notes in split {split!r} of {root}")
    if instruments in (None, "all"):
        return notes
    counts = {}
    for n in notes:
        counts[n.instrument_str] = counts.get(n.instrument_str, 0) + 1
    return data.select(notes, instruments=_choose_instruments(counts, family, split, instruments))


def family_phrases(root, split, family, instruments="all"):
    """The phrases (`phrases.read_phrases`) of one family in one split, optionally of some instruments only.

    Parameters
    ----------
    instruments : str or list of str
        As for `family_notes`; a list names the instruments exactly (used to
        take the phrases of the instrument chosen for the notes).

    Raises
    ------
    DataError
        No phrases of ``family`` in the split (render them), or none of the
        named instruments.
    """
    found = phrases.read_phrases(root, split, families=[family])
    if not found:
        raise DataError(f"no {family} phrases in split {split!r} of {root}; render them with "
                        f"`soundtransform data render --out {root} --kind phrases`, or use train_on=notes")
    if instruments in (None, "all"):
        return found
    counts = {}
    for p in found:
        counts[p.instrument_str] = counts.get(p.instrument_str, 0) + 1
    wanted = set(_choose_instruments(counts, family, split, instruments, what="phrases"))
    return [p for p in found if p.instrument_str in wanted]


def extra_source_families(config, source, target):
    """The families ``config["extra_sources"]`` adds as training sources, in `data.FAMILIES` order.

    ``"none"`` (or None, or missing): none; ``"all"``: every family but
    ``source`` and ``target``; else comma-separated family names.  Their
    train-split notes are paired with the same targets as the source's notes
    (same pitch and velocity), so the generator learns to render the target
    from any timbre, not from the source instruments it happened to hear.

    Raises
    ------
    ParameterError
        An unknown family, or ``source`` or ``target`` among them.
    """
    value = config.get("extra_sources") or "none"
    if isinstance(value, (list, tuple)):
        names = [str(v).strip() for v in value]
    elif value in ("none", "all"):
        return [] if value == "none" else [f for f in data.FAMILIES if f not in (source, target)]
    else:
        names = [v.strip() for v in str(value).split(",") if v.strip()]
    if not names:
        raise ParameterError(f"extra_sources must be 'none', 'all' or families separated by commas, not {value!r}")
    for name in names:
        check_choice("extra_sources family", name, data.FAMILIES)
        if name in (source, target):
            raise ParameterError(f"extra_sources may not include the {'source' if name == source else 'target'} "
                                 f"family {name!r}; it is already trained on")
    return [f for f in data.FAMILIES if f in names]


def extra_pairs(root, families, targets, config):
    """Train-split (source, target) note pairs of the ``families`` of `extra_source_families`, shuffled.

    Shuffled here because the training shuffle buffer is smaller than the list,
    which is sorted by instrument.
    """
    notes = data.select(data.read_split(root, "train"), families=families) if families else []
    pairs = data.pair_notes(notes, targets, max_targets=config["max_targets"], seed=config["seed"])
    order = np.random.default_rng(config["seed"]).permutation(len(pairs))
    return [pairs[i] for i in order]


NOISE_WHERE = ("everywhere", "sounding")
AUGMENT_ON = ("all", "notes")  # what the augmentation changes: every training source, or the notes' only
SOUNDING_DB = -50.0  # a frame sounds when its loudest bin is within 50 dB of the image's (the judges' floor)


def check_augment(config):
    """``augment_gain_db`` is a number >= 0, ``augment_noise_db`` None or a number < 0 and
    ``augment_noise_where`` one of `NOISE_WHERE` and ``augment_on`` one of `AUGMENT_ON`;
    `ParameterError` otherwise."""
    check_choice("augment_noise_where", config.get("augment_noise_where", "everywhere"), NOISE_WHERE)
    check_choice("augment_on", config.get("augment_on", "all"), AUGMENT_ON)
    gain, noise = config.get("augment_gain_db", 0.0), config.get("augment_noise_db")
    if isinstance(gain, bool) or not isinstance(gain, numbers.Real) or not 0 <= gain < float("inf"):
        raise ParameterError(f"augment_gain_db must be a number of dB, 0 or more, not {gain!r}")
    if noise is not None and (isinstance(noise, bool) or not isinstance(noise, numbers.Real)
                              or not float("-inf") < noise < 0):
        raise ParameterError(f"augment_noise_db must be None or a level below 0 dB (re full scale), not {noise!r}")
    return float(gain), None if noise is None else float(noise)


def augment_images(images, gain_db, noise_db=None, rng=None, where="everywhere"):
    """Source images with a gain and, optionally, a floor of broadband noise, as a player's level and breath.

    ``images [..., freq, frames, 1]`` in the project's mapping (`audio.amplitude_to_image`);
    ``gain_db`` broadcasts against the leading axes; the noise has Rayleigh
    amplitudes at ``noise_db`` dB re full scale, drawn from ``rng`` (a
    ``tf.random.Generator``; default the global one), in every bin, or with
    ``where="sounding"`` only in the frames that sound: those whose loudest
    bin is within `SOUNDING_DB` of the image's loudest (a rest stays silent,
    as the paired target is there).
    """
    rng = rng or tf.random.get_global_generator()
    amplitude = audio.image_to_amplitude(images) * tf.pow(10.0, tf.cast(gain_db, tf.float32) / 20.0)
    if noise_db is not None:
        noise = tf.pow(10.0, tf.cast(noise_db, tf.float32) / 20.0) * tf.abs(tf.complex(
            rng.normal(tf.shape(images)), rng.normal(tf.shape(images)))) / np.sqrt(2.0)
        if where == "sounding":
            frame_peak = tf.reduce_max(amplitude, axis=[-3, -1], keepdims=True)
            image_peak = tf.reduce_max(frame_peak, axis=-2, keepdims=True)
            noise *= tf.cast(frame_peak > image_peak * 10.0 ** (SOUNDING_DB / 20.0), tf.float32)
        amplitude = tf.sqrt(amplitude ** 2 + noise ** 2)
    return audio.amplitude_to_image(amplitude)


def augmented(dataset, config):
    """``dataset`` of (source, target), or of sources alone, with each source drawn anew every epoch:
    a gain uniform in +-``augment_gain_db`` and, with ``augment_noise_db`` set, noise at a level uniform in
    ``[augment_noise_db - 20, augment_noise_db]`` (where ``augment_noise_where``
    says: `augment_images`); the target is untouched.

    The draws come from one ``tf.random.Generator`` seeded with
    ``config["seed"]``, whose state lives outside the pipeline: plain random
    ops in a ``map`` replay the same values on every new iterator (every
    epoch) once a global seed is set, as `train.train` does.
    """
    gain, noise = check_augment(config)
    where = config.get("augment_noise_where", "everywhere")
    if dataset is None or (not gain and noise is None):
        return dataset
    rng = tf.random.Generator.from_seed(config.get("seed", 0))

    def change(source, *target):
        g = rng.uniform([], -gain, gain) if gain else 0.0
        n = None if noise is None else rng.uniform([], noise - 20.0, noise)
        changed = augment_images(source, g, n, rng, where)
        return (changed, *target) if target else changed

    return dataset.map(change)


def check_phrase_hop(config):
    """``config["phrase_hop"]``: None (consecutive windows) or frames between the starts of the training
    phrases' windows, 1 to ``frames``; `ParameterError` otherwise. Returns it as an int or None."""
    hop = config.get("phrase_hop")
    if hop is None:
        return None
    frames = config["frames"]
    if isinstance(hop, bool) or not isinstance(hop, numbers.Integral) or not 1 <= hop <= frames:
        raise ParameterError(f"phrase_hop must be None or a whole number of frames from 1 to {frames} "
                             f"(the window), not {hop!r}")
    return int(hop)


def train_on(config):
    """What a method trains on: ``config["train_on"]``, one of `TRAIN_ON` (default ``"notes"``)."""
    value = config.get("train_on", "notes")
    check_choice("train_on", value, TRAIN_ON)
    return value


def make_datasets(root, config, source=None, target=None):
    """Pairs (source image, target image) of notes and/or windows of phrases.

    Notes are paired by the same pitch and velocity; phrases by the same melody
    (`phrases.pair_phrases`: renderings are time-aligned), cut into the same
    consecutive ``frames``-long windows (`phrases.window_dataset`; training
    windows every ``config["phrase_hop"]`` frames when it is set), windows
    whose source is silent left out.  ``config["train_on"]`` (`TRAIN_ON`)
    says which; with ``"both"`` the two are sampled in proportion to their
    sizes.  Training pairs come from the train split.  Targets always come from
    the train split's chosen instruments (the model is taught to produce
    those; for phrases the instrument chosen for the notes); validation pairs
    unseen valid-split source instruments with them.

    Returns
    -------
    train, valid : tf.data.Dataset of ``(source [freq, frames, 1], target [freq, frames, 1])``
        unbatched; ``valid`` is None when the valid split has no pairs.
    info : dict
    """
    check_families("cgan", source, target)
    check_ema_decay(config.get("ema_decay"))
    check_weight("lambda_energy", config.get("lambda_energy", 0.0))
    losses.check_bands(config.get("energy_bands", 1))
    check_augment(config)
    check_validation_sounds(root, source, config)
    use = train_on(config)
    hop = check_phrase_hop(config)
    check_decay_from(config.get("decay_from"))
    augment_notes_only = config.get("augment_on", "all") == "notes"
    extras = extra_source_families(config, source, target)
    if extras and use == "phrases":
        raise ParameterError("extra_sources adds notes of other families; it needs train_on=notes or both")
    shape = (config["freq_bins"], config["frames"])
    targets, phrase_targets = [], []
    if use != "phrases":
        targets = family_notes(root, "train", target, config["target_instruments"])
    if use != "notes":
        chosen = sorted({t.instrument_str for t in targets}) if targets else config["target_instruments"]
        phrase_targets = family_phrases(root, "train", target, chosen)
    datasets, pairs_of, phrase_pairs_of, extra_count = [], {}, {}, 0
    for split in ("train", "valid"):
        parts = []
        found = split_pairs(root, split, source, target, targets, phrase_targets, use,
                            config["source_instruments"], config["max_targets"], config["seed"])
        pairs_of[split], phrase_pairs_of[split] = found.notes, found.phrases
        if use != "phrases":
            pairs = found.notes
            if pairs:
                notes_dataset = pair_dataset(pairs, shape)
                if split == "train" and augment_notes_only:
                    notes_dataset = augmented(notes_dataset, config)
                parts.append((notes_dataset, len(pairs)))
            if split == "train" and extras:
                more = extra_pairs(root, extras, targets, config)
                if not more:
                    raise DataError(f"no {', '.join(extras)}/{target} pairs with the same pitch and velocity "
                                    f"in split 'train' of {root}")
                parts.append((pair_dataset(more, shape), len(more)))
                extra_count = len(more)
                extras = [f for f in extras if any(s.family == f for s, _ in more)]  # those with notes
        if found.phrases:
            parts.append(phrase_pair_dataset(found.phrases, shape, hop if split == "train" else None))
        datasets.append(mix(parts, config["seed"]))
    info = {
        "root": os.path.abspath(root),
        "source": source,
        "target": target,
        "train_on": use,
        "source_instruments": sorted({s.instrument_str for s, _ in pairs_of["train"] + phrase_pairs_of["train"]}),
        "target_instruments": sorted({t.instrument_str for t in targets + phrase_targets}),
        "train_pairs": len(pairs_of["train"]),
        "valid_pairs": len(pairs_of["valid"]),
    }
    if extras:
        info.update(extra_sources=extras, extra_train_pairs=extra_count)
    if use != "notes":
        info.update(train_phrase_pairs=len(phrase_pairs_of["train"]), valid_phrase_pairs=len(phrase_pairs_of["valid"]))
    train = datasets[0] if augment_notes_only else augmented(datasets[0], config)
    return train, datasets[1], info


def split_sounds(find, root, split, family, instruments="all"):
    """``find(root, split, family, instruments)`` (`family_notes`, `family_phrases`); ``[]`` for a valid split
    without them (their DataError), the train split's DataError raised."""
    try:
        return find(root, split, family, instruments)
    except DataError:
        if split == "train":
            raise
        return []


SplitPairs = collections.namedtuple("SplitPairs", "notes unpaired_notes phrases")


def split_pairs(root, split, source, target, targets, phrase_targets, use, instruments="all", max_targets=None,
                seed=0):
    """One split's ``source`` sounds paired with ``target`` sounds: what pix2pix and Faster's pitch targets train on.

    Notes are paired with ``targets`` of the same pitch and velocity
    (`data.pair_notes`), phrases with ``phrase_targets`` of the same melody
    (`phrases.pair_phrases`); notes unless ``use`` is ``"phrases"``, phrases
    unless it is ``"notes"``.  ``instruments`` chooses the source instruments
    (`family_notes`).  A valid split without source sounds has no pairs.

    Returns
    -------
    SplitPairs
        ``notes``: list of (source, target) `data.Note` pairs; ``unpaired_notes``:
        source notes without a target of their pitch and velocity; ``phrases``:
        list of (source, target) `phrases.Phrase` pairs.

    Raises
    ------
    DataError
        The train split has no source sounds, or no pairs of a kind ``use`` asks for.
    """
    def sources(find):
        return split_sounds(find, root, split, source, instruments)

    note_pairs, unpaired, phrase_pairs = [], 0, []
    if use != "phrases":
        notes = sources(family_notes)
        note_pairs = data.pair_notes(notes, targets, max_targets=max_targets, seed=seed)
        unpaired = len(notes) - len({id(s) for s, _ in note_pairs})
        if not note_pairs and split == "train":
            raise DataError(f"no {source}/{target} pairs with the same pitch and velocity in split 'train' of {root}")
    if use != "notes":
        phrase_pairs = phrases.pair_phrases(sources(family_phrases), phrase_targets)
        if not phrase_pairs and split == "train":
            raise DataError(f"no {source}/{target} phrases of the same melody in split 'train' of {root}")
    return SplitPairs(note_pairs, unpaired, phrase_pairs)


def pair_dataset(pairs, shape):
    sources = data.image_dataset([s.path for s, _ in pairs], freq_bins=shape[0], frames=shape[1])
    targets = data.image_dataset([t.path for _, t in pairs], freq_bins=shape[0], frames=shape[1])
    return tf.data.Dataset.zip((sources, targets))


def phrase_pair_dataset(pairs, shape, hop=None):
    """Aligned windows of paired phrases: ``(dataset of (source, target), windows before the silence filter)``.

    Both sides are read at the same length, so window ``k`` of a source and of
    its target cover the same frames of the same melody. Windows start every
    ``hop`` frames (default: one window after another).
    """
    samples = phrases.phrase_samples([p.path for pair in pairs for p in pair])
    sources, starts = phrases.window_dataset([s.path for s, _ in pairs], *shape, samples=samples, hop=hop)
    targets, _ = phrases.window_dataset([t.path for _, t in pairs], *shape, samples=samples, hop=hop)
    ds = tf.data.Dataset.zip((sources, targets)).filter(lambda s, t: phrases.is_sounding(s)).cache()
    return ds, len(pairs) * len(starts)


def mix(parts, seed):
    """One dataset from ``[(dataset, size), ...]``: the only one, or all sampled in proportion to size.

    Returns None for no parts.  An epoch still sees every element of every part.
    """
    parts = [(ds, n) for ds, n in parts if ds is not None and n]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0][0]
    total = float(sum(n for _, n in parts))
    return tf.data.Dataset.sample_from_datasets([ds for ds, _ in parts], weights=[n / total for _, n in parts],
                                                seed=seed, stop_on_empty_dataset=False)


# ------------------------------------------------------------------ model


def build(config, info):
    shape = (config["freq_bins"], config["frames"], 1)
    generator = UNet(shape, ngf=config["ngf"], depth=config["depth"], norm=config["norm"],
                     dropout=config["dropout"], name="generator")
    discriminator = PatchGAN(shape[:2] + (2,), ndf=config["ndf"], n_layers=config["n_layers"],
                             norm=config["norm"], name="discriminator")
    if config.get("init_from"):  # fine-tuning (train leaves it out when a run resumes from its own weights)
        from soundtransform.export import init_generator

        info["init_from_file"] = os.path.abspath(init_generator(generator, config["init_from"]))
    model = CGAN(generator, discriminator, lambda_l1=config["lambda_l1"], gan_mode=config["gan_mode"],
                 ema_decay=config.get("ema_decay"), lambda_energy=config.get("lambda_energy", 0.0),
                 energy_bands=config.get("energy_bands", 1))
    model.compile(generator_optimizer=adam(config), discriminator_optimizer=adam(config),
                  jit_compile=config["jit_compile"])
    model.build((None,) + shape)
    model.build_optimizers()
    return model


def adam(config):
    """Adam with pix2pix's and CycleGAN's ``beta_1 = 0.5``."""
    return keras.optimizers.Adam(config["learning_rate"], beta_1=config["beta_1"])


# -------------------------------------------------------------- artifacts


class SaveGenerators(keras.callbacks.Callback):
    """After every epoch, write each generator's ``.keras`` file and the epoch's logs.

    Parameters
    ----------
    generators : callable
        ``generators(model) -> dict file name -> keras.Model``.
    run_dir : str
    """

    def __init__(self, generators, run_dir):
        super().__init__()
        self.generators = generators
        self.run_dir = run_dir

    def on_epoch_end(self, epoch, logs=None):
        for filename, generator in self.generators(self.model).items():
            save_generator(generator, os.path.join(self.run_dir, filename))
        logs = {k: float(v) for k, v in (logs or {}).items()}
        write_text(os.path.join(self.run_dir, METRICS_FILE), json.dumps({"epoch": epoch + 1, **logs}, indent=1))


def save_generator(generator, path):
    with atomic_path(path, suffix=".keras") as tmp:
        generator.save(tmp)


def read_metrics(run_dir):
    """The last finished epoch's logs (`SaveGenerators`), or ``{}``."""
    path = os.path.join(run_dir, METRICS_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def example_images(valid, count):
    """The first ``count`` source images of an unbatched pairs dataset, ``[n, freq, frames, 1]``."""
    return np.stack([pair[0].numpy() for pair in valid.take(count)])


def example_callbacks(run_dir, valid, train, config, translate):
    """`ExampleSpectrograms` on the first valid (else train) source images."""
    examples = valid if valid is not None else train
    if examples is None or not config["examples"]:
        return []
    return [ExampleSpectrograms(example_images(examples, config["examples"]), translate,
                                os.path.join(run_dir, "logs"))]


def check_decay_from(value):
    """``decay_from`` is None or a whole number of epochs, 1 or more; `ParameterError` otherwise."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
        raise ParameterError(f"decay_from must be the first epoch (1 or more) of the learning rate's linear "
                             f"fall, or None, not {value!r}")


def decay_callbacks(model, config):
    """With ``decay_from`` set, a `callbacks.LinearDecay` of the model's generator and discriminator
    optimisers (the papers' constant rate, then a linear fall to the last epoch); else none."""
    if not config.get("decay_from"):
        return []
    from soundtransform.callbacks import LinearDecay

    return [LinearDecay([model.generator_optimizer, model.discriminator_optimizer],
                        config["learning_rate"], config["decay_from"], config["epochs"])]


def callbacks(model, config, run_dir, valid, info=None):
    def translate(model, images):
        return {"output": model.generator_to_export()(images, training=False).numpy()}

    # Selection first: its score joins the epoch's logs that SaveGenerators writes.
    return [*decay_callbacks(model, config), *selection_callbacks(config, run_dir, info),
            SaveGenerators(lambda m: {GENERATOR_FILE: m.generator_to_export()}, run_dir),
            *example_callbacks(run_dir, valid, None, config, translate)]


def selects_by_judge(config):
    """Whether a run exports its best-judged epoch (``select_by="judge"``); checks the selection settings.

    Raises
    ------
    ParameterError
        ``select_by`` not in `SELECT_BY`, or ``select_notes`` not a positive integer.
    """
    check_choice("select_by", config.get("select_by", "last"), SELECT_BY)
    if config.get("select_by", "last") != "judge":
        return False
    count = config.get("select_notes")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ParameterError(f"select_notes must be a whole number of at least 1, not {count!r}")
    return True


def validation_sounds(root, family, config, instruments=None):
    """The valid-split notes and phrases of ``family`` that `validation_waveforms` draws from.

    ``instruments`` (default ``config["source_instruments"]``) as for
    `family_notes`; notes unless ``train_on="phrases"``, phrases unless
    ``train_on="notes"``.

    Returns
    -------
    notes, phrases : list of `data.Note`, list of `phrases.Phrase`

    Raises
    ------
    DataError
        Neither: the valid split has nothing of ``family`` to judge.
    """
    use = train_on(config)
    instruments = instruments or config["source_instruments"]
    notes, found = [], []
    if use != "phrases":
        try:
            notes = sorted(family_notes(root, "valid", family, instruments), key=lambda n: n.note_str)
        except DataError:
            pass
    if use != "notes":
        try:
            found = family_phrases(root, "valid", family, instruments)
        except DataError:
            pass
    if not notes and not found:
        raise DataError(f"select_by=judge needs {family} sounds in the valid split of {root}; "
                        f"add some, or use --set select_by=last")
    return notes, found


def check_validation_sounds(root, family, config, instruments=None):
    """With ``select_by="judge"``, fail before training if the valid split has no ``family`` sounds to judge."""
    if selects_by_judge(config):
        validation_sounds(root, family, config, instruments)


def validation_waveforms(root, source, config, instruments=None, with_notes=False):
    """What `SelectByJudge` converts: valid-split ``source`` sounds of unseen instruments, as waveforms.

    Up to ``config["select_notes"]`` notes and as many ``frames``-long
    windows of phrases (`validation_sounds`), each evenly spaced over the
    sorted list.  With ``with_notes``, also each one's notes: None for a
    note, the phrase's notes with onsets relative to the window for a window
    (what the judge of phrases judges them by).
    """
    notes, found = validation_sounds(root, source, config, instruments)
    count = config["select_notes"]
    samples = audio.frames_to_samples(config["frames"])
    pieces = []
    for p in found:
        y, melody = audio.load(p.path), phrases.notes_beside(p.path) or ()
        for start in range(0, max(1, len(y) - samples // 2), samples):
            pieces.append((y[start:start + samples], window_notes(melody, start, samples)))
    chosen_notes = [audio.load(n.path) for n in evenly(notes, count)]
    chosen_pieces = evenly(pieces, count)
    waveforms = chosen_notes + [y for y, _ in chosen_pieces]
    if with_notes:
        return waveforms, [None] * len(chosen_notes) + [m for _, m in chosen_pieces]
    return waveforms


def window_notes(melody, start, samples):
    """The notes of a phrase in its window ``[start, start + samples)`` (samples), times relative to it.

    A note lasts until the next onset for the judge of phrases
    (`timbre_judge.note_segments`), so the last note starting at or before
    the window's start is kept (moved to 0 s) even when it was released
    before, as are the notes starting inside the window.
    """
    seconds, length = start / audio.SAMPLE_RATE, samples / audio.SAMPLE_RATE
    ordered = sorted(melody, key=lambda n: n["onset"])
    before = [n for n in ordered if n["onset"] <= seconds][-1:]
    inside = [n for n in ordered if seconds < n["onset"] < seconds + length]
    return [{**n, "onset": max(0.0, n["onset"] - seconds), "offset": max(0.0, n["offset"] - seconds)}
            for n in before + inside]


def evenly(items, count):
    """At most ``count`` of ``items``, evenly spaced."""
    return list(items[::max(1, len(items) // count)][:count])


def selection_callbacks(config, run_dir, info, raw=lambda m: m.generator):
    """`SelectByJudge` when ``config["select_by"] == "judge"``, else none.

    It keeps ``RUN_DIR/generator_best.keras``: the model's `generator_to_export`.
    With ``ema_decay`` the raw network (``raw(model)``) is scored too.
    """
    if info is None or not selects_by_judge(config):
        return []
    waveforms, note_lists = validation_waveforms(info["root"], info["source"], config, with_notes=True)
    found = [judge_selection(config, run_dir, waveforms, info["target"], lambda m: m.generator_to_export(),
                             BEST_GENERATOR_FILE, note_lists=note_lists)]
    if config.get("ema_decay") is not None:
        # The raw network is scored too (``val_judged_raw``), never kept: what the average adds, epoch by epoch.
        found.append(judge_selection(config, run_dir, waveforms, info["target"], raw, None,
                                     name="raw", note_lists=note_lists))
    return found


def judge_selection(config, run_dir, waveforms, target, generator, filename, name="target", note_lists=None):
    """A `SelectByJudge` that keeps ``RUN_DIR/filename``, with the run's size, phase and judge.

    With ``filename`` None it only scores and logs (the epoch's logs and TensorBoard).
    ``note_lists`` (`validation_waveforms` ``with_notes``) lets the judge of
    phrases judge the phrase windows note by note.
    """
    return SelectByJudge(waveforms, target, generator, save_generator,
                         os.path.join(run_dir, filename) if filename else None,
                         config["freq_bins"], config["frames"], phase=config["phase"], judge=config.get("judge"),
                         log_dir=os.path.join(run_dir, "logs"), name=name, note_lists=note_lists,
                         peak_db=export_level(config))


def export_level(config):
    """The level matching a run's exports use (`export.build_serving_module`'s ``input_peak_db``), and its
    judge selection with them: the run's ``input_peak_db``, the level its sounds were trained at, or
    `export.DEFAULT_INPUT_PEAK_DB`."""
    from soundtransform import export

    level = config.get("input_peak_db")
    return export.DEFAULT_INPUT_PEAK_DB if level is None else level


def export_metadata(config, info, run_dir, source, target, generator_file):
    return {
        "method": config["method"],
        "preset": config["preset"],
        "source": source,
        "target": target,
        "freq_bins": config["freq_bins"],
        "frames": config["frames"],
        "training_data": info,
        "metrics": read_metrics(run_dir),
        "generator_file": os.path.abspath(generator_file),
        "config": config,
    }


def finish(model, config, info, run_dir):
    """Save ``generator.keras`` and export ``cgan_SOURCE_to_TARGET``: the last epoch's generator, or with
    ``select_by="judge"`` the best-judged epoch's (``generator_best.keras``)."""
    from soundtransform import export

    path = os.path.join(run_dir, GENERATOR_FILE)
    save_generator(model.generator_to_export(), path)
    source, target = info["source"], info["target"]
    metadata = export_metadata(config, info, run_dir, source, target, path)
    generator = selected_generator(model.generator_to_export(), config, run_dir, GENERATOR_FILE, metadata)
    version_dir = export.export_generator(generator, f"cgan_{source}_to_{target}", metadata,
                                          base_dir=config["export_dir"], phase=config["phase"],
                                          input_peak_db=export_level(config))
    return {"generator": path, "export": version_dir, "selected": metadata.get("selected")}


def selected_generator(generator, config, run_dir, filename, metadata):
    """What a run exports: with ``select_by="judge"`` the best-judged epoch's generator, else ``generator``.

    The export's ``metadata`` then records the selection (``selected``: epoch
    and score) and the file it came from.
    """
    best_path = os.path.join(run_dir, best_file(filename))
    best = SelectByJudge.read_best(best_path) if selects_by_judge(config) else None
    if best is None:
        return generator
    metadata.update(generator_file=os.path.abspath(best_path), selected=best)
    return keras.saving.load_model(best_path, compile=False)
