"""CycleGAN (Zhu et al. 2017): unpaired translation of spectrogram images, both ways.

Two ResNet generators, ``G: X -> Y`` (source family to target family) and
``F: Y -> X``, and two PatchGAN discriminators, ``D_Y`` on target-family images
and ``D_X`` on source-family images.  No pairs are needed: ``G`` learns to make
notes ``D_Y`` takes for the target family, and the cycle losses
``F(G(x)) ~ x`` and ``G(F(y)) ~ y`` keep what it does invertible, hence the
pitch and timing of the note.  Both directions are exported.
"""

import os

import keras
import tensorflow as tf

from soundtransform import losses, presets
from soundtransform.errors import DataError, check_choice
from soundtransform.networks.patchgan import PatchGAN
from soundtransform.networks.resnet_generator import ResNetGenerator
from soundtransform.training import pairing, runs, selection
from soundtransform.training.augment import augmented, is_augmented
from soundtransform.training.average import WeightAverage
from soundtransform.training.callbacks import LinearDecay
from soundtransform.training.method import GeneratorMethod, Output

GENERATORS = ("generator_g", "generator_f")


@keras.saving.register_keras_serializable(package="soundtransform")
class CycleGAN(keras.Model):
    """Owns the four networks of CycleGAN and their training.

    Parameters
    ----------
    generator_g : keras.Model
        ``G: X -> Y``, ``[batch, freq, frames, 1] -> [batch, freq, frames, 1]``.
    generator_f : keras.Model
        ``F: Y -> X``, same shapes.
    discriminator_x, discriminator_y : keras.Model
        ``[batch, freq, frames, 1] -> logits [batch, h, w, 1]``: is this a
        real X (source) / Y (target) image?
    lambda_cycle : float
        Weight of the cycle-consistency loss (10 in the paper, eq. 3).
    lambda_identity : float
        Weight of the identity loss relative to ``lambda_cycle`` (0.5 in the
        paper's code: the identity term is weighted ``lambda_identity * lambda_cycle``).
    gan_mode : {"lsgan", "bce"}
        The paper uses least squares (Mao et al. 2017).
    lambda_pitch : float
        Weight of a pitch anchor, not in the paper: `losses.pitch_loss` between
        each translation and its input (``G(x)`` and ``x``, ``F(y)`` and ``y``).
        It keeps the harmonics where they are and leaves the spectral envelope
        free; 0 turns it off.
    pitch_width : int
        Rows of the moving average that `losses.fine_structure` subtracts.
    ema_decay : float, optional
        Keep an exponential moving average of each generator's weights
        (`WeightAverage`), updated after every
        step.  What a run judges, saves and exports is then the average
        (`to_export`); the raw generators go on training.  None: no average.

    Call
    ----
    images : [batch, freq, frames, 1] source images -> ``G(images)``.
    """

    def __init__(self, generator_g, generator_f, discriminator_x, discriminator_y, lambda_cycle=10.0,
                 lambda_identity=0.5, gan_mode="lsgan", lambda_pitch=0.0, pitch_width=losses.PITCH_WIDTH,
                 ema_decay=None, **kwargs):
        super().__init__(**kwargs)
        check_choice("gan_mode", gan_mode, losses.GAN_MODES)
        self.generator_g = generator_g
        self.generator_f = generator_f
        self.discriminator_x = discriminator_x
        self.discriminator_y = discriminator_y
        self.lambda_cycle = float(lambda_cycle)
        self.lambda_identity = float(lambda_identity)
        self.gan_mode = gan_mode
        presets.check_weight("lambda_pitch", lambda_pitch)
        presets.check_pitch_width(pitch_width)
        self.lambda_pitch = float(lambda_pitch)
        self.pitch_width = int(pitch_width)
        presets.check_ema_decay(ema_decay)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.averages = None
        if ema_decay is not None:  # a dict of layers is tracked, so checkpoints hold the averages
            self.averages = {attr: WeightAverage(getattr(self, attr), self.ema_decay, name=f"ema_{attr}")
                             for attr in GENERATORS}
        names = ("g_loss", "f_loss", "g_gan_loss", "f_gan_loss", "cycle_loss", "identity_loss", "pitch_loss",
                 "d_x_loss", "d_y_loss")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    def compile(self, generator_optimizer, discriminator_optimizer, **kwargs):
        # One Adam for both generators and one for both discriminators, as in
        # the paper's code; Keras' own ``optimizer`` stays None.
        super().compile(optimizer=None, **kwargs)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer

    @property
    def generator_variables(self):
        return self.generator_g.trainable_variables + self.generator_f.trainable_variables

    @property
    def discriminator_variables(self):
        return self.discriminator_x.trainable_variables + self.discriminator_y.trainable_variables

    def build_optimizers(self):
        """Create both optimisers' variables now, so a checkpoint can be restored into them."""
        self.generator_optimizer.build(self.generator_variables)
        self.discriminator_optimizer.build(self.discriminator_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def to_export(self, attr):
        """What a run judges, saves and exports for ``attr`` (``"generator_g"`` or ``"generator_f"``):
        its weight average when ``ema_decay`` is set, else the generator itself."""
        if attr not in GENERATORS:
            raise ValueError(f"no generator {attr!r}; expected one of {GENERATORS}")
        return self.averages[attr].average if self.averages is not None else getattr(self, attr)

    def call(self, images, training=False):
        return self.generator_g(images, training=training)

    def generator_losses(self, real_x, real_y, training, generator_g=None, generator_f=None, clean_x=None):
        """The generators' objective (Zhu et al. 2017, eq. 3 plus the identity term).

        ``generator_g`` and ``generator_f`` default to the trained networks;
        validation passes `to_export`'s.  ``clean_x``: the source images before
        augmentation, when ``real_x`` are augmented ones (`make_datasets`).
        ``F(G(x))``, ``F(x)`` and the pitch anchor are then held to the clean
        images, so the generators learn to drop the added gain and noise
        rather than carry it through ``G``'s output to pass the cycle.

        Returns
        -------
        fake_y, fake_x : the translations ``G(x)`` and ``F(y)``
        terms : dict of scalar losses
        """
        g = self.generator_g if generator_g is None else generator_g
        f = self.generator_f if generator_f is None else generator_f
        clean_x = real_x if clean_x is None else clean_x
        fake_y = g(real_x, training=training)
        fake_x = f(real_y, training=training)
        cycled_x = f(fake_y, training=training)
        cycled_y = g(fake_x, training=training)
        same_y = g(real_y, training=training)
        same_x = f(real_x, training=training)
        g_gan = losses.adversarial_loss(self.discriminator_y(fake_y, training=training), True, self.gan_mode)
        f_gan = losses.adversarial_loss(self.discriminator_x(fake_x, training=training), True, self.gan_mode)
        cycle = losses.cycle_loss(clean_x, cycled_x) + losses.cycle_loss(real_y, cycled_y)
        identity = losses.identity_loss(real_y, same_y) + losses.identity_loss(clean_x, same_x)
        pitch = (losses.pitch_loss(fake_y, clean_x, self.pitch_width)
                 + losses.pitch_loss(fake_x, real_y, self.pitch_width))
        shared = (self.lambda_cycle * cycle + self.lambda_identity * self.lambda_cycle * identity
                  + self.lambda_pitch * pitch)
        terms = {"g_gan_loss": g_gan, "f_gan_loss": f_gan, "cycle_loss": cycle, "identity_loss": identity,
                 "pitch_loss": pitch, "g_loss": g_gan + shared, "f_loss": f_gan + shared}
        return fake_y, fake_x, terms

    def discriminator_losses(self, real_x, real_y, fake_x, fake_y, training):
        """Each discriminator's least-squares objective, halved as in the paper."""
        def d_loss(discriminator, real, fake):
            return 0.5 * (losses.adversarial_loss(discriminator(real, training=training), True, self.gan_mode)
                          + losses.adversarial_loss(discriminator(fake, training=training), False, self.gan_mode))

        return {"d_x_loss": d_loss(self.discriminator_x, real_x, fake_x),
                "d_y_loss": d_loss(self.discriminator_y, real_y, fake_y)}

    def train_generators(self, real_x, real_y, clean_x=None):
        """Step 1: update G and F together on adversarial + cycle + identity losses."""
        with tf.GradientTape() as tape:
            fake_y, fake_x, terms = self.generator_losses(real_x, real_y, training=True, clean_x=clean_x)
            total = terms["g_loss"] + terms["f_gan_loss"]  # the shared cycle and identity terms once
            objective = losses.replica_scaled(total)
        variables = self.generator_variables
        self.generator_optimizer.apply_gradients(zip(tape.gradient(objective, variables), variables))
        return fake_y, fake_x, terms

    def train_discriminators(self, real_x, real_y, fake_x, fake_y):
        """Step 2: update D_X and D_Y on real images against the fakes of step 1."""
        fake_x, fake_y = tf.stop_gradient(fake_x), tf.stop_gradient(fake_y)
        with tf.GradientTape() as tape:
            terms = self.discriminator_losses(real_x, real_y, fake_x, fake_y, training=True)
            total = terms["d_x_loss"] + terms["d_y_loss"]
            objective = losses.replica_scaled(total)
        variables = self.discriminator_variables
        self.discriminator_optimizer.apply_gradients(zip(tape.gradient(objective, variables), variables))
        return terms

    def train_step(self, batch):
        real_x, real_y = batch
        clean_x = None
        if isinstance(real_x, (tuple, list)):  # augmented sources: (what G sees, the image as rendered)
            real_x, clean_x = real_x
        # 1. G and F: fool D_Y and D_X, translate back to the input, leave own-domain inputs alone.
        fake_y, fake_x, terms = self.train_generators(real_x, real_y, clean_x)
        # 2. D_X and D_Y: real images against step 1's translations (D_X's real ones as rendered).
        terms.update(self.train_discriminators(real_x if clean_x is None else clean_x, real_y, fake_x, fake_y))
        # 3. the moving averages of G's and F's weights follow the updated networks.
        if self.averages is not None:
            for attr in GENERATORS:
                self.averages[attr].update(getattr(self, attr), self.generator_optimizer.iterations)
        return self._track(terms)

    def test_step(self, batch):
        # Validation describes what is exported: the averages, when there are some.
        real_x, real_y = batch
        fake_y, fake_x, terms = self.generator_losses(real_x, real_y, training=False,
                                                      generator_g=self.to_export("generator_g"),
                                                      generator_f=self.to_export("generator_f"))
        terms.update(self.discriminator_losses(real_x, real_y, fake_x, fake_y, training=False))
        return self._track(terms)

    def _track(self, terms):
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        config = {"name": self.name, "lambda_cycle": self.lambda_cycle,
                  "lambda_identity": self.lambda_identity, "gan_mode": self.gan_mode,
                  "lambda_pitch": self.lambda_pitch, "pitch_width": self.pitch_width, "ema_decay": self.ema_decay}
        for key in ("generator_g", "generator_f", "discriminator_x", "discriminator_y"):
            config[key] = keras.saving.serialize_keras_object(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator_g", "generator_f", "discriminator_x", "discriminator_y"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


# ------------------------------------------------------------------- data


def make_datasets(root, config, source=None, target=None):
    """Unpaired (source image, target image) examples: notes and/or windows of phrases.

    Source clips of each split are matched with target clips of the train
    split's chosen instruments (``target_instruments``), both shuffled
    independently and the shorter repeated, so an epoch sees every clip of the
    larger set once.  ``config["train_on"]`` (`presets.TRAIN_ON`) picks the
    clips: NSynth notes, consecutive ``frames``-long windows of phrases
    (silent windows left out), or both.

    With ``augment_gain_db`` or ``augment_noise_db`` set, the training sources
    are drawn anew every epoch (`training.augment.augmented`), and each train
    example's source becomes a pair ``(augmented, as rendered)``:
    `CycleGAN.generator_losses` holds the cycle to the rendered image.
    Targets and validation stay as rendered.

    Returns
    -------
    train, valid : tf.data.Dataset of ``(x [freq, frames, 1], y [freq, frames, 1])``
        unbatched; ``valid`` is None when the valid split has no source clips.
    info : dict
    """
    pairing.check_families("cyclegan", source, target)
    if config.get("init_from"):
        init_files(config["init_from"], source, target)
    selection.check_validation_sounds(root, source, config, config["source_instruments"])
    selection.check_validation_sounds(root, target, config, "all")
    use = pairing.train_on(config)
    targets, target_phrases = pairing.target_sounds(root, target, config)
    sources, source_phrases = {}, {}
    for split in ("train", "valid"):
        for wanted, find, found in (("notes", pairing.family_notes, sources),
                                    ("phrases", pairing.family_phrases, source_phrases)):
            found[split] = (pairing.split_sounds(find, root, split, source, config["source_instruments"])
                            if use in (wanted, "both") else [])
    train = _unpaired(sources["train"], targets, config, source_phrases["train"], target_phrases,
                      augment=is_augmented(config))
    valid = None
    if sources["valid"] or source_phrases["valid"]:
        valid = _unpaired(sources["valid"], targets, config, source_phrases["valid"], target_phrases)
    info = {
        "root": os.path.abspath(root),
        "source": source,
        "target": target,
        "train_on": use,
        "source_instruments": pairing.instrument_names(sources["train"] + source_phrases["train"]),
        "target_instruments": pairing.instrument_names(targets + target_phrases),
        "train_source_notes": len(sources["train"]),
        "train_target_notes": len(targets),
        "valid_source_notes": len(sources["valid"]),
    }
    if use != "notes":
        info.update(train_source_phrases=len(source_phrases["train"]), train_target_phrases=len(target_phrases),
                    valid_source_phrases=len(source_phrases["valid"]))
    return train, valid, info


def _unpaired(x_notes, y_notes, config, x_phrases=(), y_phrases=(), augment=False):
    seed = config["seed"]
    x, x_count = _images(x_notes, x_phrases, config, seed, augment)
    y, y_count = _images(y_notes, y_phrases, config, seed + 1)
    return tf.data.Dataset.zip((x, y)).take(max(x_count, y_count))


def _images(notes, phrase_list, config, seed, augment=False):
    """One side's images, shuffled and repeated: ``(dataset, clips per pass)``.

    ``augment``: each element is ``(augmented image, image)`` (`make_datasets`).
    """
    from soundtransform import data

    shape = (config["freq_bins"], config["frames"])
    parts = []
    if notes:
        parts.append((data.image_dataset([n.path for n in notes], freq_bins=shape[0], frames=shape[1]), len(notes)))
    if phrase_list:
        parts.append(pairing.phrase_windows(phrase_list, shape))
    count = sum(n for _, n in parts)
    ds = pairing.mix(parts, seed)
    ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True).repeat()
    if augment:  # each image beside its augmented copy
        ds = augmented(ds.map(lambda image: (image, image)), config)
    return ds, count


# ------------------------------------------------------------------ model


def build(config, info):
    shape = (config["freq_bins"], config["frames"], 1)

    def generator(name):
        return ResNetGenerator(shape, ngf=config["ngf"], n_downsampling=config["n_downsampling"],
                               n_residual_blocks=config["n_residual_blocks"], norm=config["norm"], name=name)

    def discriminator(name):
        return PatchGAN(shape, ndf=config["ndf"], n_layers=config["n_layers"], norm=config["norm"], name=name)

    generators = {attr: generator(attr) for attr in GENERATORS}
    if config.get("init_from"):  # fine-tuning (train leaves it out when a run resumes from its own weights)
        files = init_files(config["init_from"], info["source"], info["target"])
        info["init_from_file"] = [runs.init_generator(generators[attr], files[attr]) for attr in GENERATORS]
    model = CycleGAN(generators["generator_g"], generators["generator_f"], discriminator("discriminator_x"),
                     discriminator("discriminator_y"), lambda_cycle=config["lambda_cycle"],
                     lambda_identity=config["lambda_identity"], gan_mode=config["gan_mode"],
                     lambda_pitch=config["lambda_pitch"], pitch_width=config["pitch_width"],
                     ema_decay=config.get("ema_decay"))
    model.compile(generator_optimizer=adam(config), discriminator_optimizer=adam(config),
                  jit_compile=config["jit_compile"])
    model.build((None,) + shape)
    model.build_optimizers()
    return model


def adam(config):
    """Adam with the paper's ``beta_1 = 0.5``."""
    return keras.optimizers.Adam(config["learning_rate"], beta_1=config["beta_1"])


def init_files(run_dir, source, target):
    """The generator files a fine-tune starts from: ``{"generator_g": path, "generator_f": path}``.

    ``run_dir`` is a CycleGAN run folder of the same families: its
    ``generator_SOURCE_to_TARGET.keras`` starts G and the reverse starts F.
    Those are its last epoch's, a pair that trained together: each
    direction's best-judged epoch (``*_best.keras``) can be a different one,
    and a pair of two epochs starts with a broken cycle.  The discriminators
    start afresh.  `DataError` when the folder or a generator is missing.
    """
    run_dir = os.fspath(run_dir)
    run = runs.read_run_info(run_dir) if os.path.isdir(run_dir) else None
    if not run or run.get("config", {}).get("method") != "cyclegan":
        raise DataError(f"init_from: {run_dir} is not a CycleGAN run folder (one with config.json and its "
                        "generator_A_to_B.keras files); a CycleGAN fine-tunes both of a run's generators")
    out = {}
    for filename, attr in generator_files(source, target).items():
        path = os.path.join(run_dir, filename)
        if not os.path.isfile(path):
            raise DataError(f"init_from: {run_dir} has no {filename} (a run of {run.get('source')} -> "
                            f"{run.get('target')}; this one is {source} -> {target})")
        out[attr] = path
    return out


# -------------------------------------------------------------- artifacts


def generator_files(source, target):
    """``{"generator_SOURCE_to_TARGET.keras": "generator_g", ...reverse: "generator_f"}``."""
    return {f"generator_{source}_to_{target}.keras": "generator_g",
            f"generator_{target}_to_{source}.keras": "generator_f"}


class _Method(GeneratorMethod):
    """Both generators, ``generator_A_to_B.keras`` each way, exported as ``cyclegan_A_to_B`` and the reverse.

    Each direction keeps its own best epoch: G is judged on valid-split source
    sounds of ``source_instruments``, F on every valid-split target sound
    (instruments neither saw), and the logs call the scores after each
    direction's target (``val_judged_keyboard``).
    """

    name = "cyclegan"

    def outputs(self, config, info):
        found = []
        for filename, attr in generator_files(info["source"], info["target"]).items():
            forward = attr == "generator_g"
            a, b = (info["source"], info["target"]) if forward else (info["target"], info["source"])
            found.append(Output(filename, a, b, lambda m, attr=attr: m.to_export(attr), None, b,
                                config["source_instruments"] if forward else "all"))
        return found

    def translate(self, model, images):
        fake_y = model.to_export("generator_g")(images, training=False)
        return {"output": fake_y.numpy(), "cycled": model.to_export("generator_f")(fake_y, training=False).numpy()}

    def schedules(self, model, config):
        """With ``decay_from`` set, a `LinearDecay` of both optimisers (the paper's constant rate, then a
        linear fall to the last epoch)."""
        if not config.get("decay_from"):
            return []
        return [LinearDecay([model.generator_optimizer, model.discriminator_optimizer], config["learning_rate"],
                            config["decay_from"], config["epochs"])]


_METHOD = _Method()
callbacks = _METHOD.callbacks
finish = _METHOD.finish
