"""Training callbacks shared by the translation methods."""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from soundtransform import audio
from soundtransform.fileio import write_text


class ExampleSpectrograms(keras.callbacks.Callback):
    """Each epoch, log a fixed set of example inputs and outputs to TensorBoard.

    Images are drawn with low frequencies at the bottom; audio is the output
    spectrogram inverted with 32 Griffin-Lim iterations (the input's phase is
    not kept here), so it is a preview, not the exported model's sound.

    Parameters
    ----------
    images : np.ndarray [shape=(n, freq, frames, 1)], values in [-1, 1]
        Fixed example inputs (e.g. the first notes of the valid split).
    translate : callable
        ``translate(model, images) -> dict name -> images`` of the same shape,
        e.g. ``{"output": model.generator(images)}``.
    log_dir : str
        The run's TensorBoard folder; examples go to ``log_dir/examples``.
    """

    def __init__(self, images, translate, log_dir, audio_examples=2):
        super().__init__()
        self.images = np.asarray(images, np.float32)
        self.translate = translate
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "examples"))
        self.audio_examples = audio_examples

    @staticmethod
    def _picture(images):
        # [n, freq, frames, 1] in [-1, 1] -> [n, freq, frames, 1] in [0, 1], low rows at the bottom
        return (tf.reverse(tf.convert_to_tensor(images), axis=[1]) + 1.0) / 2.0

    def on_epoch_end(self, epoch, logs=None):
        outputs = {"input": self.images, **self.translate(self.model, self.images)}
        samples = audio.frames_to_samples(self.images.shape[2])
        with self.writer.as_default(step=epoch):
            for name, images in outputs.items():
                tf.summary.image(name, self._picture(images), max_outputs=len(self.images))
                n = min(self.audio_examples, len(self.images))
                waves = audio.image_to_waveform(images[:n], samples, phase="griffin-lim")
                tf.summary.audio(name, waves[..., None], audio.SAMPLE_RATE, max_outputs=n)
        self.writer.flush()


JUDGED_FROM = "wav16"  # what SelectByJudge judges: translations as a 16-bit WAV holds them (audio.as_written)

class SelectByJudge(keras.callbacks.Callback):
    """Each epoch, judge a generator's translations of fixed validation notes; keep the best epoch's generator.

    GAN generators swing from epoch to epoch (measured: 68.5 % of held-out
    flutes judged keyboard after 12 epochs, 36.9 % after 20), so the last
    epoch is a noisy pick.  This callback converts the same validation notes
    (instruments unseen in training) after every epoch, exactly as an export
    would (source phase or Griffin-Lim), asks the judge for their family, and
    saves the generator whenever the share judged as the target is the best so
    far (ties broken by the mean target probability).  The score goes into
    the epoch's logs as ``val_judged_NAME`` and ``val_NAME_probability`` and
    to TensorBoard.

    Parameters
    ----------
    waveforms : list of np.ndarray [shape=(samples,)], float32 at 16 kHz
        The validation notes, each cropped or padded to ``frames`` frames.
    target : str
        The target family (one of `data.FAMILIES`).
    generator : callable
        ``generator(model) -> keras.Model``, the network to judge and save.
    save : callable
        ``save(generator, path)``, e.g. `methods.cgan.save_generator`.
    path : str or None
        Where the best generator goes; ``path + ".json"`` records its epoch and
        score, so a resumed run keeps comparing against it.  None: score and
        log only, keep nothing.
    freq_bins, frames : int
        The generator's input size.
    phase : {"source", "griffin-lim"}
        Inversion, as in the export.
    judge : str or keras.Model, optional
        See `evaluate.load_judge`; default the shipped judge.
    log_dir : str, optional
        TensorBoard folder for the score.
    name : str
        What the logs call the target: ``"target"`` (cgan) or, for a
        CycleGAN's two directions, each one's target family.
    note_lists : list of (sequence of dict or None), optional
        Per waveform: None for a note; for a window of a phrase, its notes
        (onsets relative to the window).  Windows with notes are judged by the
        judge of phrases (`evaluate.load_phrase_judge`) note by note, when
        that judge judges notes (``unit="note"``; a ``judge`` given judges
        them whole).  A window shorter than ``frames`` (a phrase's last) is
        judged over its own length, not over the padding.
    """

    def __init__(self, waveforms, target, generator, save, path, freq_bins, frames, phase="source",
                 judge=None, log_dir=None, batch_size=16, name="target", note_lists=None, peak_db=None):
        super().__init__()
        from soundtransform import data, evaluate

        samples = audio.frames_to_samples(frames)
        self.waveforms = np.stack([audio.fit_length(y, samples) for y in waveforms])
        self.lengths = [min(len(y), samples) for y in waveforms]
        self.target_index = data.FAMILIES.index(target)
        self.generator = generator
        self.save = save
        self.path = path
        self.freq_bins = freq_bins
        self.phase = phase
        self.peak_db = peak_db
        self.judge = evaluate.load_judge(judge)
        self.note_lists = list(note_lists) if note_lists is not None else [None] * len(waveforms)
        has_windows = any(n is not None for n in self.note_lists)
        windows_judge = evaluate.load_phrase_judge(None, judge) if has_windows else None
        self.phrase_judge = windows_judge if getattr(windows_judge, "unit", "window") == "note" else None
        self.batch_size = batch_size
        self.name = name
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "validation")) if log_dir else None
        # How phrase windows are judged; a resumed run's best judged otherwise is not compared against.
        self.windows_judged = ("note" if self.phrase_judge is not None else "whole") if has_windows else None
        self.best = self.read_best(path) if path else None
        # A best judged another way (phrase windows, or floats before translations were judged as written
        # WAV files) is not compared against: its score means something else.
        if self.best is not None and (self.best.get("phrase_windows") != self.windows_judged
                                      or self.best.get("judged_from") != JUDGED_FROM
                                      or self.best.get("input_peak_db") != self.peak_db):
            self.best = None

    @staticmethod
    def read_best(path):
        """The saved best epoch's record ``{"epoch", "val_judged_target", "val_target_probability"}``, or None."""
        record = path + ".json"
        if not os.path.isfile(record) or not os.path.isfile(path):
            return None
        with open(record, encoding="utf-8") as f:
            return json.load(f)

    def translations(self, generator):
        """The validation notes converted by ``generator``, ``[n, samples]`` float32, as a WAV file holds
        them (`audio.as_written`): what `convert` gives a user is what is judged."""
        samples = self.waveforms.shape[1]
        out = []
        for start in range(0, len(self.waveforms), self.batch_size):
            chunk = self.waveforms[start:start + self.batch_size]
            # Level matching, as the export does (`audio.level_gain`); the judge hears no level, so
            # the outputs are not scaled back.
            chunk = chunk * audio.level_gain(chunk, self.peak_db).numpy()
            image, phase = audio.waveform_to_image(chunk, self.freq_bins)
            generated = generator(image, training=False)
            out.append(audio.image_to_waveform(generated, samples, phase=self.phase, source_phase=phase).numpy())
        return audio.as_written(np.concatenate(out))

    def score(self, generator):
        """``(share judged as the target, mean target probability)`` of ``generator``'s translations."""
        probabilities = self.probabilities(generator)
        judged = float(np.mean(np.argmax(probabilities, axis=1) == self.target_index))
        return judged, float(np.mean(probabilities[:, self.target_index]))

    def probabilities(self, generator):
        """Family probabilities ``[n, families]`` of each translation: notes by the judge, phrase windows
        by the judge of phrases when it judges note by note."""
        from soundtransform import evaluate

        translated = self.translations(generator)
        probabilities = evaluate.classify_waveforms(list(translated), self.judge)
        if self.phrase_judge is not None:
            for i, (y, notes) in enumerate(zip(translated, self.note_lists)):
                if notes is not None:
                    probabilities[i] = self.phrase_judge.classify_windows(y[:self.lengths[i]], notes, [0],
                                                                          self.lengths[i])[0]
        return probabilities

    def on_epoch_end(self, epoch, logs=None):
        generator = self.generator(self.model)
        judged, probability = self.score(generator)
        if logs is not None:
            logs.update({f"val_judged_{self.name}": judged, f"val_{self.name}_probability": probability})
        if self.writer is not None:
            with self.writer.as_default(step=epoch):
                tf.summary.scalar(f"judged_{self.name}", judged)
                tf.summary.scalar(f"{self.name}_probability", probability)
            self.writer.flush()
        if self.path is None:
            return
        best = self.best
        if best is None or (judged, probability) > (best["val_judged_target"], best["val_target_probability"]):
            # Remove the old record first: a run killed between the writes then finds no best, not a wrong one.
            if os.path.exists(self.path + ".json"):
                os.remove(self.path + ".json")
            self.save(generator, self.path)
            self.best = {"epoch": epoch + 1, "val_judged_target": judged, "val_target_probability": probability,
                         "judged_from": JUDGED_FROM, "input_peak_db": self.peak_db}
            if self.windows_judged is not None:
                self.best["phrase_windows"] = self.windows_judged
            write_text(self.path + ".json", json.dumps(self.best, indent=1))


class LinearDecay(keras.callbacks.Callback):
    """The CycleGAN paper's schedule: a constant learning rate, then a linear fall toward zero.

    Before each epoch every optimiser's learning rate is set to
    ``base * (epochs - e + 1) / (epochs - start + 2)`` for the epoch ``e``
    (counted from 1) at or after ``start``, else ``base``.  So epoch
    ``start`` is the first below ``base`` and the last trains at
    ``base / (epochs - start + 2)``, not at zero.  Setting it
    each epoch, rather than once, keeps a resumed run on the schedule: the
    checkpoint restores the optimisers' own last rate, which this overwrites.

    Parameters
    ----------
    optimizers : list of keras.optimizers.Optimizer
    base : float
        The constant rate (``learning_rate``).
    start : int
        The first epoch (from 1) trained below ``base``.
    epochs : int
        The run's last epoch.
    """

    def __init__(self, optimizers, base, start, epochs):
        super().__init__()
        self.optimizers = list(optimizers)
        self.base = float(base)
        self.start = int(start)
        self.epochs = int(epochs)

    def rate(self, epoch):
        """The learning rate of ``epoch`` (counted from 1)."""
        if epoch < self.start:
            return self.base
        return self.base * max(0.0, (self.epochs - epoch + 1) / (self.epochs - self.start + 2))

    def on_epoch_begin(self, epoch, logs=None):
        for optimizer in self.optimizers:
            optimizer.learning_rate = self.rate(epoch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.rate(epoch + 1)
