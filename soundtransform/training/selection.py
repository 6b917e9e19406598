"""Judge selection: which epoch's generator a run exports (``select_by="judge"``).

GAN generators swing from epoch to epoch (measured: 68.5 % of held-out flutes
judged keyboard after 12 epochs, 36.9 % after 20; a run's valid score went 46-86 %
over epochs 8-30), and Faster's validation losses stay flat while the judged
share moves, so the last epoch is a noisy pick.  `SelectByJudge` converts the
same valid-split sounds (instruments unseen in training) after every epoch
through the export's own graph, asks the judge for their family and keeps the
best epoch's generator beside the run's (`runs.best_file`).
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from soundtransform import audio, phrases, pipeline
from soundtransform.errors import DataError, with_setting
from soundtransform.fileio import write_text
from soundtransform.training import runs
from soundtransform.training.pairing import family_notes, family_phrases, train_on

# How SelectByJudge hears translations: the export's `serving_default` (level matching, windows, inversion),
# then as a 16-bit WAV holds them (`audio.as_written`).  A best epoch judged otherwise is not compared against.
JUDGED_FROM = "serving-wav16"


def selects_by_judge(config):
    """Whether a run exports its best-judged epoch (``select_by="judge"``; checked by `presets.resolve`)."""
    return config.get("select_by", "last") == "judge"


def read_best(path):
    """The record of the best-judged generator at ``path`` (``{"epoch", "val_judged_target", ...}``), or None
    when the generator or its record is missing."""
    return runs.read_selection(path) if os.path.isfile(path) else None


class SelectByJudge(keras.callbacks.Callback):
    """Each epoch, judge a generator's conversions of fixed validation sounds; keep the best epoch's generator.

    The sounds are converted exactly as the export converts them
    (`pipeline.build_serving_module`: level matching, overlapping windows,
    source phase or Griffin-Lim, the output back at its input's level), and
    the generator is saved whenever the share judged as the target is the
    best so far (ties broken by the mean target probability).  The score goes
    into the epoch's logs as ``val_judged_NAME`` and ``val_NAME_probability``
    and to TensorBoard.

    Parameters
    ----------
    waveforms : list of np.ndarray [shape=(samples,)], float32 at 16 kHz
        The validation sounds, each cropped or padded to ``frames`` frames.
    target : str
        The target family (one of `data.FAMILIES`).
    generator : callable
        ``generator(model) -> keras.Model``, the network to judge and save.
    save : callable or None
        ``save(generator, path)``; default `runs.save_generator`.
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
        What the logs call the target: ``"target"`` (cgan, Faster) or, for a
        CycleGAN's two directions, each one's target family.
    note_lists : list of (sequence of dict or None), optional
        Per waveform: None for a note; for a window of a phrase, its notes
        (onsets relative to the window).  Windows with notes are judged by the
        judge of phrases (`evaluate.load_phrase_judge`) note by note, when
        that judge judges notes (``unit="note"``; a ``judge`` given judges
        them whole).  A window shorter than ``frames`` (a phrase's last) is
        judged over its own length, not over the padding.
    input_peak_db : float or None
        The export's level matching (`pipeline.build_serving_module`).
    """

    def __init__(self, waveforms, target, generator, save, path, freq_bins, frames, phase="source",
                 judge=None, log_dir=None, batch_size=16, name="target", note_lists=None,
                 input_peak_db=pipeline.DEFAULT_INPUT_PEAK_DB):
        super().__init__()
        from soundtransform import data, evaluate

        samples = audio.frames_to_samples(frames)
        self.waveforms = np.stack([audio.fit_length(y, samples) for y in waveforms])
        self.lengths = [min(len(y), samples) for y in waveforms]
        self.target_index = data.FAMILIES.index(target)
        self.generator = generator
        self.save = save or runs.save_generator
        self.path = path
        self.freq_bins, self.frames = freq_bins, frames
        self.phase = phase
        self.input_peak_db = input_peak_db
        self.judge = evaluate.load_judge(judge)
        self.note_lists = list(note_lists) if note_lists is not None else [None] * len(waveforms)
        has_windows = any(n is not None for n in self.note_lists)
        windows_judge = evaluate.load_phrase_judge(None, judge) if has_windows else None
        self.phrase_judge = windows_judge if getattr(windows_judge, "unit", "window") == "note" else None
        self.batch_size = batch_size
        self.name = name
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "validation")) if log_dir else None
        self._serving = (None, None)  # (generator, its serving module), built once per generator
        # How phrase windows are judged; a resumed run's best judged otherwise is not compared against.
        self.windows_judged = ("note" if self.phrase_judge is not None else "whole") if has_windows else None
        self.best = read_best(path) if path else None
        # A best judged another way (phrase windows, another graph or level) means something else.
        if self.best is not None and (self.best.get("phrase_windows") != self.windows_judged
                                      or self.best.get("judged_from") != JUDGED_FROM
                                      or self.best.get("input_peak_db") != self.input_peak_db):
            self.best = None

    def serving_module(self, generator):
        """`pipeline.build_serving_module` of ``generator`` with the run's settings (built once per generator)."""
        if self._serving[0] is not generator:
            module = pipeline.build_serving_module(generator, phase=self.phase, freq_bins=self.freq_bins,
                                                   frames=self.frames, input_peak_db=self.input_peak_db)
            self._serving = (generator, module)
        return self._serving[1]

    def translations(self, generator):
        """The validation sounds converted by ``generator`` through the export's ``serving_default``,
        ``[n, samples]`` float32, as a WAV file holds them (`audio.as_written`): what ``convert`` gives a
        user is what is judged."""
        module = self.serving_module(generator)
        out = [module.serving_default(waveform=tf.constant(self.waveforms[start:start + self.batch_size]))
               ["waveform"].numpy() for start in range(0, len(self.waveforms), self.batch_size)]
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
                         "judged_from": JUDGED_FROM, "input_peak_db": self.input_peak_db}
            if self.windows_judged is not None:
                self.best["phrase_windows"] = self.windows_judged
            write_text(self.path + ".json", json.dumps(self.best, indent=1))


# ------------------------------------------------------- validation sounds


def validation_sounds(root, family, config, instruments="all"):
    """The valid-split notes and phrases of ``family`` that `validation_waveforms` draws from.

    ``instruments`` as for `pairing.family_notes`; notes unless
    ``train_on="phrases"``, phrases unless ``train_on="notes"``.

    Returns
    -------
    notes, phrases : list of `data.Note`, list of `phrases.Phrase`

    Raises
    ------
    DataError
        Neither: the valid split has nothing of ``family`` to judge.
    """
    use = train_on(config)
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
        raise with_setting(DataError(f"select_by=judge needs {family} sounds in the valid split of {root}; "
                                     "add some, or use select_by=last"), "select_by=last")
    return notes, found


def check_validation_sounds(root, family, config, instruments="all"):
    """With ``select_by="judge"``, fail before training if the valid split has no ``family`` sounds to judge."""
    if selects_by_judge(config):
        validation_sounds(root, family, config, instruments)


def validation_waveforms(root, source, config, instruments="all", with_notes=False):
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


# ------------------------------------------------------ callbacks, export


def judge_selection(config, run_dir, waveforms, target, generator, filename, name="target", note_lists=None,
                    phase="source"):
    """A `SelectByJudge` that keeps ``RUN_DIR/filename``, with the run's size and judge, converting as the
    export does (``phase``, `pipeline.DEFAULT_INPUT_PEAK_DB`).

    With ``filename`` None it only scores and logs (the epoch's logs and TensorBoard).
    ``note_lists`` (`validation_waveforms` ``with_notes``) lets the judge of
    phrases judge the phrase windows note by note.
    """
    return SelectByJudge(waveforms, target, generator, runs.save_generator,
                         os.path.join(run_dir, filename) if filename else None,
                         config["freq_bins"], config["frames"], phase=phase, judge=config.get("judge"),
                         log_dir=os.path.join(run_dir, "logs"), name=name, note_lists=note_lists)


def selected_generator(generator, config, run_dir, filename, metadata):
    """What a run exports: with ``select_by="judge"`` the best-judged epoch's generator, else ``generator``.

    The export's ``metadata`` then records the selection (``selected``: epoch
    and score) and the file it came from (its name in the run folder).
    """
    best_path = os.path.join(run_dir, runs.best_file(filename))
    best = read_best(best_path) if selects_by_judge(config) else None
    if best is None:
        return generator
    metadata.update(generator_file=os.path.basename(best_path), selected=best)
    return keras.saving.load_model(best_path, compile=False)
