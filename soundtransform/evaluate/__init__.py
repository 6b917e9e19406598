"""Judge any method's outputs: family classification, consistency, t-SNE, pitch, spectral distance.

Everything here works on plain folders of audio files, so the same numbers can
be computed for every method and for trivial baselines (the unconverted input).

Classification follows Liu, Delany & McKeever (2019, Sec. 4): a classifier of
NSynth's 11 families labels each generated sound, and the share labelled as
the target family is the method's *classifier consistency*.  The classifier
that judges must not be the one whose features drove the transfer (Slow and
Faster optimise against the VGG-19 ``perceptual`` one), so the default judge
is `timbre_judge.TimbreJudge` (``exported_models/classifiers/judge.keras``): a
logistic regression on timbre statistics, trained on other instruments, that
recognises unseen instruments far better than a second VGG-19 did (see its
module).  Any ``.keras`` VGG-19 classifier can be passed as the judge instead;
the t-SNE map uses the judge's own feature space (standardised timbre
statistics, or a VGG layer's activations).

The modules, by job:

judges
    Loading the judge and the judge of phrases; family probabilities and
    features of waveforms of any length (cut into windows of the judge's own
    length: 4 s for the timbre judge, a VGG classifier's input width).
pitch
    pYIN f0 of single notes, and how well outputs keep their inputs' pitch.
naturalness
    Log-spectral distance to the nearest natural target note of the same
    pitch; separation of generated from natural sounds in feature space; the
    Fréchet distance of generated to natural notes in the judge's embedding,
    beside the range natural instruments score.
dynamics
    Attack and decay of each note: onset-to-peak time, level fall.
melodies
    Phrases note by note (against a phrase JSON beside the input, or the notes
    `find_notes` finds in it): note pitch, onset timing and onset F1, and the
    family heard in each 2-s window.
recording
    Recording-like conditions (a small room, a noise floor, EQ, level, a
    microphone): to augment a judge's training notes and to degrade inputs.
judge_validation
    Leave one SoundFont out: how well a judge recipe recognises the families
    of a SoundFont it never heard, clean and under recording-like conditions.
report
    `evaluate`, which computes all of them for a folder of generated sounds,
    and `markdown`.

The pictures (`plot.save_tsne`, `plot.save_confusion_matrix`) live in `plot`.
"""

from soundtransform.evaluate.judges import (FEATURE_LAYER, audio_files, classify_files, classify_waveforms,
                                            embed_waveforms, family_accuracy, is_timbre_judge,
                                            judge_window_seconds, load_judge, load_phrase_judge, top_families,
                                            windows)
from soundtransform.evaluate.dynamics import attack_decay, note_dynamics
from soundtransform.evaluate.melodies import (ONSET_TOLERANCE_MS, PHRASE_WINDOW_SECONDS, detected_onsets,
                                              find_notes, match_onsets, note_f0s, note_pitch_accuracy, onset_f1,
                                              onset_timing, phrase_figures, phrase_window_seconds, phrase_windows,
                                              window_consistency)
from soundtransform.evaluate.naturalness import (db_image, frechet_distance, frechet_naturalness, log_spectral_distance,
                                                 nearest_target_distance, separation)
from soundtransform.evaluate.pitch import PITCH_TOLERANCE_CENTS, f0, midi_pitch, pitch_preservation
from soundtransform.evaluate.report import evaluate, markdown

__all__ = [
    "FEATURE_LAYER", "ONSET_TOLERANCE_MS", "PHRASE_WINDOW_SECONDS", "PITCH_TOLERANCE_CENTS",
    "attack_decay", "audio_files", "classify_files", "classify_waveforms", "db_image", "detected_onsets",
    "embed_waveforms", "evaluate", "f0", "family_accuracy", "find_notes", "frechet_distance", "frechet_naturalness",
    "is_timbre_judge", "judge_window_seconds", "load_judge", "load_phrase_judge", "log_spectral_distance",
    "markdown", "match_onsets", "midi_pitch", "nearest_target_distance", "note_dynamics", "note_f0s",
    "note_pitch_accuracy", "onset_f1", "onset_timing", "phrase_figures",
    "phrase_window_seconds", "phrase_windows", "pitch_preservation", "separation", "top_families",
    "window_consistency", "windows",
]
