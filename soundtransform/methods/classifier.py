"""Training the VGG-19 audio classifier of instrument families.

The classifier is the project's perceptual space (Slow and Faster take their
losses from its feature maps) and, trained separately with its own seed, the
judge of every method's outputs.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from soundtransform import data
from soundtransform.fileio import atomic_path, write_text
from soundtransform.networks.vgg19_audio import VGG19AudioClassifier

ARTIFACT = "classifier.keras"


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
    """

    def __init__(self, classifier, gain_db=10.0, shift_frames=8, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.gain_db = gain_db
        self.shift_frames = shift_frames
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
        return images

    def train_step(self, batch):
        images, labels = batch
        # 1. Augment the spectrogram images.
        images = self.augment(images)
        # 2. Cross-entropy of the predicted family.
        with tf.GradientTape() as tape:
            probabilities = self.classifier(images, training=True)
            loss = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
            loss = tf.reduce_mean(loss)
        # 3. One optimiser step on the classifier's weights.
        grads = tape.gradient(loss, self.classifier.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.classifier.trainable_variables))
        self.loss_tracker.update_state(loss)
        self.accuracy.update_state(labels, probabilities)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, batch):
        images, labels = batch
        probabilities = self.classifier(images, training=False)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities))
        self.loss_tracker.update_state(loss)
        self.accuracy.update_state(labels, probabilities)
        return {m.name: m.result() for m in self.metrics}


def make_datasets(root, config, source=None, target=None):
    """Every family's notes of the train and valid splits, labelled by NSynth family id."""
    families = config.get("families")
    shape = (config["freq_bins"], config["frames"])
    out = []
    for split in ("train", "valid"):
        notes = data.select(data.read_split(root, split), families=families)
        if split == "train" and not notes:
            data.load_notes(root, split, families=families)  # raises the clear error
        if not notes:
            out.append(None)
            continue
        labels = np.array([n.family_id for n in notes], np.int32)
        out.append(data.image_dataset([n.path for n in notes], labels, *shape))
    train_notes = data.select(data.read_split(root, "train"), families=families)
    info = {
        "root": os.path.abspath(root),
        "families": sorted({n.family for n in train_notes}),
        "train_notes": len(train_notes),
        "train_instruments": sorted({n.instrument_str for n in train_notes}),
    }
    return out[0], out[1], info


def build(config, info):
    classifier = VGG19AudioClassifier(
        num_classes=len(data.FAMILIES),
        input_shape=(config["freq_bins"], config["frames"], 1),
        width=config["width"],
        dense_units=config["dense_units"],
        name="vgg19_audio_classifier",
    )
    model = ClassifierTrainer(classifier, seed=config.get("seed", 0))
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


def save_classifier(classifier, path):
    with atomic_path(path, suffix=".keras") as tmp:
        classifier.save(tmp)


def load_classifier(path):
    """Load a `VGG19AudioClassifier` saved by `save_classifier`."""
    from soundtransform.errors import DataError

    if not os.path.isfile(path):
        raise DataError(f"no classifier at {path}")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise DataError(f"cannot load classifier {path}: {str(exc).splitlines()[0]}") from None


def callbacks(model, config, run_dir, valid):
    return [SaveClassifier(os.path.join(run_dir, ARTIFACT))]


def finish(model, config, info, run_dir):
    path = os.path.join(run_dir, ARTIFACT)
    save_classifier(model.classifier, path)
    write_text(os.path.join(run_dir, "classifier.json"),
               json.dumps({"families": list(data.FAMILIES), "config": config}, indent=1))
    return {"classifier": path}
