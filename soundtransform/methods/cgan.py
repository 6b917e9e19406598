"""pix2pix (Isola et al. 2017): paired translation of spectrogram images.

A U-Net generator learns to map a source-family note to the target-family note
of the same pitch and velocity, judged by a conditional PatchGAN that sees the
source stacked with a real or a generated target.  This is *translation*, not
style transfer: the generator does not take a style image; it learns one fixed
mapping from the training pairs, so what it produces is the average of the
targets it was shown for each input.  Training on one consistent target
instrument (``target_instruments="one"``) keeps attacks sharp; averaging
several keyboards blurs them.

Pairs, augmentation, judge selection and export come from
`soundtransform.training`; this module holds the model, its datasets and its
build.
"""

import os

import keras
import tensorflow as tf

from soundtransform import losses, presets
from soundtransform.errors import check_choice
from soundtransform.networks.patchgan import PatchGAN
from soundtransform.networks.unet import UNet
from soundtransform.training import pairing, runs, selection
from soundtransform.training.augment import augmented
from soundtransform.training.average import WeightAverage
from soundtransform.training.method import GeneratorMethod, Output


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
        presets.check_weight("lambda_energy", lambda_energy)
        self.energy_bands = presets.check_bands(energy_bands)
        check_choice("gan_mode", gan_mode, losses.GAN_MODES)
        presets.check_ema_decay(ema_decay)
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


# ------------------------------------------------------------------- data


def make_datasets(root, config, source=None, target=None):
    """Pairs (source image, target image) of notes and/or windows of phrases.

    Notes are paired by the same pitch and velocity; phrases by the same melody
    (`phrases.pair_phrases`: renderings are time-aligned), cut into the same
    consecutive ``frames``-long windows (`phrases.window_dataset`), windows
    whose source is silent left out.  ``config["train_on"]``
    (`presets.TRAIN_ON`) says which; with ``"both"`` the two are sampled in
    proportion to their sizes.  Training pairs come from the train split.
    Targets always come from the train split's chosen instruments (the model
    is taught to produce those; for phrases the instrument chosen for the
    notes); validation pairs unseen valid-split source instruments with them.
    With ``augment_gain_db`` or ``augment_noise_db`` set, the training sources
    are drawn anew every epoch (`training.augment.augmented`).

    Returns
    -------
    train, valid : tf.data.Dataset of ``(source [freq, frames, 1], target [freq, frames, 1])``
        unbatched; ``valid`` is None when the valid split has no pairs.
    info : dict
    """
    pairing.check_families("cgan", source, target)
    selection.check_validation_sounds(root, source, config, config["source_instruments"])
    use = pairing.train_on(config)
    shape = (config["freq_bins"], config["frames"])
    targets, phrase_targets = pairing.target_sounds(root, target, config)
    datasets, found = {}, {}
    for split in ("train", "valid"):
        found[split] = pairing.split_pairs(root, split, source, target, targets, phrase_targets, use,
                                           config["source_instruments"], seed=config["seed"])
        parts = []
        if found[split].notes:
            parts.append((pairing.pair_dataset(found[split].notes, shape), len(found[split].notes)))
        if found[split].phrases:
            parts.append(pairing.phrase_pair_dataset(found[split].phrases, shape))
        datasets[split] = pairing.mix(parts, config["seed"])
    trained = found["train"]
    info = {
        "root": os.path.abspath(root),
        "source": source,
        "target": target,
        "train_on": use,
        "source_instruments": pairing.instrument_names([s for s, _ in trained.notes + trained.phrases]),
        "target_instruments": pairing.instrument_names(targets + phrase_targets),
        "train_pairs": len(trained.notes),
        "valid_pairs": len(found["valid"].notes),
    }
    if use != "notes":
        info.update(train_phrase_pairs=len(trained.phrases), valid_phrase_pairs=len(found["valid"].phrases))
    return augmented(datasets["train"], config), datasets["valid"], info


# ------------------------------------------------------------------ model


def build(config, info):
    shape = (config["freq_bins"], config["frames"], 1)
    generator = UNet(shape, ngf=config["ngf"], depth=config["depth"], norm=config["norm"],
                     dropout=config["dropout"], name="generator")
    discriminator = PatchGAN(shape[:2] + (2,), ndf=config["ndf"], n_layers=config["n_layers"],
                             norm=config["norm"], name="discriminator")
    if config.get("init_from"):  # fine-tuning (train leaves it out when a run resumes from its own weights)
        info["init_from_file"] = runs.init_generator(generator, config["init_from"])
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


class _Method(GeneratorMethod):
    """One generator, ``generator.keras``, exported as ``cgan_SOURCE_to_TARGET``."""

    name = "cgan"

    def outputs(self, config, info):
        raw = None if config.get("ema_decay") is None else (lambda m: m.generator)
        return [Output(runs.GENERATOR_FILE, info["source"], info["target"], lambda m: m.generator_to_export(),
                       raw, "target", config["source_instruments"])]


_METHOD = _Method()
callbacks = _METHOD.callbacks
finish = _METHOD.finish
