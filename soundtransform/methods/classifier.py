"""Training the VGG-19 audio classifier of instrument families, and its use as a perceptual network.

The classifier is the project's perceptual space: Slow and Faster take their
losses from its feature maps (`perceptual_features`).  Outputs are judged by another model,
`soundtransform.timbre_judge.TimbreJudge`; any VGG-19 trained here can still be
passed to ``evaluate --judge``.
"""

import json
import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from soundtransform import data, losses, registry
from soundtransform.errors import DataError, ParameterError, check_choice
from soundtransform.fileio import atomic_path, write_text
from soundtransform.networks.vgg19_audio import VGG19AudioClassifier

ARTIFACT = "classifier.keras"
BEST = "classifier_best.keras"


@keras.saving.register_keras_serializable(package="soundtransform")
class ClassifierTrainer(keras.Model):
    """Owns the training of a `VGG19AudioClassifier`.

    Parameters
    ----------
    classifier : VGG19AudioClassifier
    gain_db : float
        Training images get a random level change of up to +-``gain_db`` dB, so
        the judge does not learn loudness.
    shift_frames : int
        ... and a random circular shift in time of up to this many frames.
    freq_mask, time_mask : int
        SpecAugment (Park et al. 2019): one band of up to ``freq_mask`` rows
        and one stretch of up to ``time_mask`` frames per image are set to the
        -80 dB floor, so the judge cannot lean on one partial or one moment.
    seed : int

    Notes
    -----
    Images wider than the classifier's input (whole notes) are cut: training
    takes one random window per batch, so every part of a note (attack,
    sustain, release) is learnt; evaluation averages the probabilities of the
    consecutive windows, as `evaluate.classify_waveforms` does.
    """

    def __init__(self, classifier, gain_db=10.0, shift_frames=8, freq_mask=0, time_mask=0, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.gain_db = gain_db
        self.shift_frames = shift_frames
        self.freq_mask = freq_mask
        self.time_mask = time_mask
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy]

    def call(self, images, training=False):
        return self.classifier(images, training=training)

    def augment(self, images):
        """Random level (dB -> image units: 80 dB span over 2) and time shift."""
        batch = tf.shape(images)[0]
        gain = keras.random.uniform([batch, 1, 1, 1], -self.gain_db, self.gain_db, seed=self.seed_generator)
        images = tf.clip_by_value(images + gain * 2.0 / 80.0, -1.0, 1.0)
        if self.shift_frames:
            shift = keras.random.randint([], -self.shift_frames, self.shift_frames + 1, seed=self.seed_generator)
            images = tf.roll(images, shift, axis=2)
        if self.freq_mask:
            images = self.mask(images, axis=1, max_width=self.freq_mask)
        if self.time_mask:
            images = self.mask(images, axis=2, max_width=self.time_mask)
        return images

    def mask(self, images, axis, max_width):
        """Set a random band ``[start, start + width)`` along ``axis`` of each image to -1."""
        batch, size = tf.shape(images)[0], tf.shape(images)[axis]
        width = keras.random.randint([batch, 1], 0, max_width + 1, seed=self.seed_generator)
        start = keras.random.randint([batch, 1], 0, size, seed=self.seed_generator)
        index = tf.range(size)[tf.newaxis, :]
        band = (index >= start) & (index < start + width)  # [batch, size]
        shape = [batch, 1, 1, 1]
        shape[axis] = size
        band = tf.reshape(band, tf.stack(shape))
        return tf.where(band, -1.0, images)

    def random_window(self, images):
        """One random ``[batch, freq, frames, 1]`` window of wider images (the same for the batch)."""
        frames, width = self.classifier.spectrogram_shape[1], images.shape[2]
        if width == frames:
            return images
        start = keras.random.randint([], 0, width - frames + 1, seed=self.seed_generator)
        return images[:, :, start:start + frames]

    def window_probabilities(self, images, training=False):
        """Mean probabilities over the consecutive windows of images ``[batch, freq, k * frames, 1]``."""
        frames, width = self.classifier.spectrogram_shape[1], images.shape[2]
        count = width // frames
        windows = [images[:, :, i * frames:(i + 1) * frames] for i in range(count)]
        probabilities = self.classifier(tf.concat(windows, axis=0), training=training)
        return tf.reduce_mean(tf.reshape(probabilities, [count, -1, probabilities.shape[-1]]), axis=0)

    def train_step(self, batch):
        images, labels = batch
        # 1. Augment the spectrogram images: a random window, level, shift and masks.
        images = self.augment(self.random_window(images))
        # 2. Cross-entropy of the predicted family.
        with tf.GradientTape() as tape:
            probabilities = self.classifier(images, training=True)
            loss = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
            loss = tf.reduce_mean(loss)
            objective = losses.replica_scaled(loss)
        # 3. One optimiser step on the classifier's weights.
        grads = tape.gradient(objective, self.classifier.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.classifier.trainable_variables))
        self.loss_tracker.update_state(loss)
        self.accuracy.update_state(labels, probabilities)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, batch):
        images, labels = batch
        probabilities = self.window_probabilities(images)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities))
        self.loss_tracker.update_state(loss)
        self.accuracy.update_state(labels, probabilities)
        return {m.name: m.result() for m in self.metrics}


def make_datasets(root, config, source=None, target=None):
    """Every family's notes of the training splits, labelled by NSynth family id.

    ``config["train_splits"]`` is ``"train"`` (validate on ``valid``, keep the
    best epoch) or ``"train+valid"`` (train on both, no validation: the judge,
    which thus hears instruments the perceptual classifier never heard).
    """
    families = config.get("families")
    splits = config.get("train_splits", "train").split("+")  # `presets.TRAIN_SPLITS`
    # Whole notes (``note_frames``) when the classifier's input is a shorter window.
    shape = (config["freq_bins"], config.get("note_frames") or config["frames"])
    train_notes = [n for split in splits for n in data.select(data.read_split(root, split), families=families)]
    if not train_notes:
        data.load_notes(root, "train", families=families)  # raises the clear error
    valid_notes = [] if "valid" in splits else data.select(data.read_split(root, "valid"), families=families)

    def labelled(notes):
        # Notes come sorted by name, i.e. by family, and the training shuffle
        # buffer is smaller than a split: without this permutation batches
        # would hold two or three families at a time.
        order = np.random.default_rng(config.get("seed", 0)).permutation(len(notes))
        notes = [notes[i] for i in order]
        labels = np.array([n.family_id for n in notes], np.int32)
        return data.image_dataset([n.path for n in notes], labels, *shape)

    info = {
        "root": os.path.abspath(root),
        "train_splits": "+".join(splits),
        "families": sorted({n.family for n in train_notes}),
        "train_notes": len(train_notes),
        "train_instruments": sorted({n.instrument_str for n in train_notes}),
    }
    return labelled(train_notes), labelled(valid_notes) if valid_notes else None, info


def build(config, info):
    classifier = VGG19AudioClassifier(
        num_classes=len(data.FAMILIES),
        input_shape=(config["freq_bins"], config["frames"], 1),
        width=config["width"],
        dense_units=config["dense_units"],
        head=config.get("head", "flatten"),
        norm=config.get("norm", "none"),
        dropout=config.get("dropout", 0.5),
        name="vgg19_audio_classifier",
    )
    model = ClassifierTrainer(
        classifier,
        gain_db=config.get("gain_db", 10.0),
        shift_frames=config.get("shift_frames", 8),
        freq_mask=config.get("freq_mask", 0),
        time_mask=config.get("time_mask", 0),
        seed=config.get("seed", 0),
    )
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]), jit_compile=config["jit_compile"])
    model.build((None, config["freq_bins"], config["frames"], 1))
    model.optimizer.build(classifier.trainable_variables)
    return model


class SaveClassifier(keras.callbacks.Callback):
    """Writes ``classifier.keras`` atomically after every epoch."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        save_classifier(self.model.classifier, self.path)


class KeepBest(keras.callbacks.Callback):
    """Keeps the epoch with the best validation accuracy in ``classifier_best.keras``.

    Its score is stored beside it (``classifier_best.json``), so a resumed run
    still only replaces it with a better epoch.
    """

    def __init__(self, run_dir, monitor="val_accuracy"):
        super().__init__()
        self.path = os.path.join(run_dir, BEST)
        self.meta = os.path.join(run_dir, "classifier_best.json")
        self.monitor = monitor

    def best(self):
        if not os.path.isfile(self.meta):
            return None
        with open(self.meta, encoding="utf-8") as f:
            return json.load(f)

    def on_epoch_end(self, epoch, logs=None):
        score = (logs or {}).get(self.monitor)
        if score is None:
            return
        best = self.best()
        if best is None or score > best[self.monitor]:
            save_classifier(self.model.classifier, self.path)
            write_text(self.meta, json.dumps({"epoch": epoch + 1, self.monitor: float(score)}))


def save_classifier(classifier, path):
    with atomic_path(path, suffix=".keras") as tmp:
        classifier.save(tmp)


CLASSIFIER_ROLES = ("perceptual", "judge", "phrase_judge")
DEFAULT_PERCEPTUAL = os.path.join("exported_models", "classifiers", "perceptual.keras")  # Slow's and Faster's


def default_path(role="perceptual"):
    """The shipped classifier of ``role``: ``exported_models/classifiers/{role}.keras``.

    ``perceptual`` is the feature space of Slow and Faster; ``judge`` is the
    independent `timbre_judge.TimbreJudge` that judges every method's outputs;
    ``phrase_judge`` is a TimbreJudge that judges windows of phrases note by note.
    """
    check_choice("classifier role", role, CLASSIFIER_ROLES)
    return os.path.join(registry.shipped_models_dir(), "classifiers", f"{role}.keras")


def load_classifier(path):
    """Load a `VGG19AudioClassifier` saved by `save_classifier` (or another saved soundtransform model)."""
    if not os.path.isfile(path):
        raise DataError(f"no classifier at {path}")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise DataError(f"cannot load classifier {path}: {str(exc).splitlines()[0]}") from None


def callbacks(model, config, run_dir, valid, info=None):
    out = [SaveClassifier(os.path.join(run_dir, ARTIFACT))]
    if valid is not None:
        out.append(KeepBest(run_dir))
        if config.get("patience"):
            out.append(keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=config["patience"]))
    return out


def finish(model, config, info, run_dir):
    """``classifier.keras``: the best validated epoch if there was validation, else the last."""
    path = os.path.join(run_dir, ARTIFACT)
    best = KeepBest(run_dir).best()
    if best is not None:
        with atomic_path(path, suffix=".keras") as tmp:
            shutil.copyfile(os.path.join(run_dir, BEST), tmp)
    else:
        save_classifier(model.classifier, path)
    summary = {"families": list(data.FAMILIES), "config": config, "train_splits": info.get("train_splits"),
               "best_epoch": best}
    write_text(os.path.join(run_dir, "classifier.json"), json.dumps(summary, indent=1))
    return {"classifier": path, "best_epoch": best}


# ---------------------------------------------------- perceptual network


def perceptual_features(classifier, layer_names):
    """A fully convolutional model from a spectrogram image to named VGG layers.

    The classifier's conv and pooling layers (up to the deepest one asked for)
    are reused, with their trained weights, on an input of any size.

    Parameters
    ----------
    classifier : VGG19AudioClassifier
    layer_names : list of str
        Conv layer names, e.g. ``["block4_conv2", "block1_conv1"]``.

    Returns
    -------
    keras.Model: ``[batch, freq, frames, 1]`` -> list of ``[batch, h, w, channels]``
    in the order of ``layer_names``.
    """
    from soundtransform.networks.vgg19_audio import CONV_LAYERS

    unknown = [n for n in layer_names if n not in CONV_LAYERS]
    if unknown:
        raise ParameterError(f"unknown VGG-19 layers {unknown}; choose from {', '.join(CONV_LAYERS)}")
    deepest = max(CONV_LAYERS.index(n) for n in layer_names)
    inputs = keras.Input((None, None, 1), name="spectrogram")
    x, outputs = inputs, {}
    for layer in classifier.layers:
        if layer.name.startswith("block") and ("_conv" in layer.name or "_pool" in layer.name):
            x = layer(x)
            outputs[layer.name] = x
            if layer.name == CONV_LAYERS[deepest]:
                break
    model = keras.Model(inputs, [outputs[n] for n in layer_names], name="perceptual_features")
    model.trainable = False
    return model


def perceptual_path(classifier=None):
    """The ``.keras`` file of a classifier path, or of the default one.

    A relative path is looked up in the working folder, then, for a path
    under ``exported_models/``, among the shipped models (`registry.shipped_models_dir`).
    """
    path = os.fspath(classifier or DEFAULT_PERCEPTUAL)
    if not os.path.isabs(path) and not os.path.isfile(path) and path.startswith("exported_models" + os.sep):
        shipped = os.path.join(registry.shipped_models_dir(), path[len("exported_models" + os.sep):])
        if os.path.isfile(shipped):
            path = shipped  # the default, from outside the repository or from an installed package
    if not os.path.isfile(path):
        raise DataError(
            f"no classifier at {path}; train one with `soundtransform train --method classifier` "
            "and pass its .keras file (classifier=...)"
        )
    return path


def load_perceptual_classifier(classifier=None):
    """A classifier object from an object, a ``.keras`` path, or the default path.

    A relative path is looked up in the working folder, then in the repository.
    """
    if classifier is not None and not isinstance(classifier, (str, os.PathLike)):
        return classifier
    return load_classifier(perceptual_path(classifier))
