"""pix2pix and CycleGAN on windows of phrases (and on notes and phrases together)."""

import shutil

import numpy as np
import pytest

from soundtransform import audio, phrases, pipeline, presets
from soundtransform.errors import DataError, ParameterError
from soundtransform.methods import cgan, cyclegan
from soundtransform.train import batch
from soundtransform.training import pairing, selection

SECONDS = 3.0


@pytest.fixture(scope="module")
def notes_and_phrases(dataset, tmp_path_factory):
    """The shared rendered notes plus two 3-s melodies rendered by every flute and keyboard of both SoundFonts."""
    root = str(tmp_path_factory.mktemp("with_phrases") / "data")
    shutil.copytree(dataset, root)
    phrases.render_phrases(root, melodies=2, families=["flute", "keyboard"], seconds=SECONDS, progress=False)
    return root


def _fit_one_step(module, networks, root, method, train_on):
    config = presets.resolve(method, "tiny", train_on=train_on)
    train_ds, valid_ds, info = module.make_datasets(root, config, source="flute", target="keyboard")
    model = module.build(config, info)
    before = {name: [v.numpy().copy() for v in getattr(model, name).trainable_variables] for name in networks}
    history = model.fit(batch(train_ds, config, training=True), epochs=1, steps_per_epoch=1, verbose=0)
    for name in networks:
        after = [v.numpy() for v in getattr(model, name).trainable_variables]
        assert not all(np.array_equal(a, b) for a, b in zip(before[name], after)), f"{name} did not move"
    assert history.history and all(np.isfinite(v[0]) for v in history.history.values())
    return info


@pytest.mark.parametrize("train_on", ["phrases", "both"])
def test_cgan_fits_on_phrase_windows(notes_and_phrases, train_on):
    info = _fit_one_step(cgan, ("generator", "discriminator"), notes_and_phrases, "cgan", train_on)
    assert info["train_on"] == train_on and info["train_phrase_pairs"] > 0
    assert (info["train_pairs"] > 0) == (train_on == "both")
    assert len(info["target_instruments"]) == 1  # the notes' target instrument, or the phrases' own "one"


def test_cyclegan_fits_on_phrase_windows(notes_and_phrases):
    info = _fit_one_step(cyclegan, ("generator_g", "generator_f", "discriminator_x", "discriminator_y"),
                         notes_and_phrases, "cyclegan", "phrases")
    assert info["train_source_phrases"] > 0 and info["train_target_phrases"] > 0
    assert info["train_source_notes"] == 0


def test_phrase_pairs_are_the_same_window_of_the_same_melody(notes_and_phrases):
    """Window k of a source phrase and of its target cover the same frames: their notes start together."""
    config = presets.resolve("cgan", "tiny", train_on="phrases")
    f, F = config["freq_bins"], config["frames"]
    train_ds, _, info = cgan.make_datasets(notes_and_phrases, config, source="flute", target="keyboard")
    targets = pairing.family_phrases(notes_and_phrases, "train", "keyboard", info["target_instruments"])
    pairs = phrases.pair_phrases(pairing.family_phrases(notes_and_phrases, "train", "flute"), targets)
    samples = int(SECONDS * audio.SAMPLE_RATE)
    starts = phrases.window_starts(audio.samples_to_frames(samples), F)
    assert len(starts) == 6  # 188 frames in windows of 32, the last ending with the phrase
    expected, onsets_seen = [], 0
    for source, target in pairs:
        assert source.notes == target.notes
        images = [audio.waveform_to_image(audio.fit_length(audio.load(p.path), samples), f)[0].numpy()
                  for p in (source, target)]
        for s in starts:
            src, tgt = images[0][:, s:s + F], images[1][:, s:s + F]
            if src.max() <= -0.5:  # a silent source window is left out
                continue
            expected.append((src, tgt))
            # The keyboard's energy jumps at each written onset inside the window (+-2 frames).
            loud = tgt.max(axis=0)[:, 0]
            for n in source.notes:
                frame = int(round(n["onset"] * audio.SAMPLE_RATE / audio.HOP_LENGTH)) - s
                if 2 <= frame < F - 3:
                    assert loud[frame + 2] - loud[frame - 2] > 0.1, (target.path, n, s)
                    onsets_seen += 1
    got = list(train_ds.as_numpy_iterator())
    assert len(got) == len(expected) > 0
    for (src, tgt), (want_src, want_tgt) in zip(got, expected):
        np.testing.assert_allclose(src, want_src, atol=1e-5)
        np.testing.assert_allclose(tgt, want_tgt, atol=1e-5)
    assert onsets_seen >= 4


def test_both_sees_every_note_pair_and_every_window(notes_and_phrases):
    config = presets.resolve("cgan", "tiny", train_on="both")
    train_ds, _, info = cgan.make_datasets(notes_and_phrases, config, source="flute", target="keyboard")
    phrase_only = cgan.make_datasets(notes_and_phrases, {**config, "train_on": "phrases"}, "flute", "keyboard")[0]
    windows = sum(1 for _ in phrase_only)
    assert sum(1 for _ in train_ds) == info["train_pairs"] + windows


def test_phrases_asked_for_but_none_rendered(dataset):
    for module in (cgan, cyclegan):
        config = presets.resolve(module.__name__.rsplit(".", 1)[1], "tiny", train_on="phrases")
        with pytest.raises(DataError, match="no keyboard phrases in split 'train'.*--kind phrases"):
            module.make_datasets(dataset, config, source="flute", target="keyboard")
    with pytest.raises(ParameterError, match="unknown train_on 'melodies'; choose one of: notes, phrases, both"):
        presets.resolve("cgan", "tiny", train_on="melodies")


def test_judge_selection_hears_notes_and_phrase_windows(notes_and_phrases):
    config = presets.resolve("cgan", "tiny", train_on="both", select_notes=3)
    samples = audio.frames_to_samples(config["frames"])
    heard = {use: selection.validation_waveforms(notes_and_phrases, "flute", {**config, "train_on": use})
             for use in ("notes", "phrases", "both")}
    valid_notes = pairing.family_notes(notes_and_phrases, "valid", "flute")
    valid_phrases = pairing.family_phrases(notes_and_phrases, "valid", "flute")
    assert len(heard["notes"]) == min(3, len(valid_notes))
    assert len(heard["phrases"]) == 3 and all(len(y) == samples for y in heard["phrases"])
    assert len(heard["both"]) == len(heard["notes"]) + len(heard["phrases"])
    # The phrase windows are cut from the valid flute phrases, the first from the first one's start.
    np.testing.assert_array_equal(heard["phrases"][0], audio.load(valid_phrases[0].path)[:samples])
    assert all(any(np.array_equal(a, b) for b in heard["both"]) for a in heard["notes"] + heard["phrases"])


def test_selection_judges_phrase_windows_note_by_note(notes_and_phrases):
    import keras

    from soundtransform import evaluate

    config = presets.resolve("cgan", "tiny", train_on="both", select_notes=3)
    waveforms, note_lists = selection.validation_waveforms(notes_and_phrases, "flute", config, with_notes=True)
    alone = selection.validation_waveforms(notes_and_phrases, "flute", config)
    assert len(waveforms) == len(alone) and all(np.array_equal(a, b) for a, b in zip(waveforms, alone))
    n_notes = len(selection.validation_waveforms(notes_and_phrases, "flute", {**config, "train_on": "notes"}))
    assert note_lists[:n_notes] == [None] * n_notes and all(m is not None for m in note_lists[n_notes:])
    assert any(note_lists[n_notes:])  # a window in a rest has no notes, but most have some
    seconds = audio.frames_to_samples(config["frames"]) / audio.SAMPLE_RATE
    assert all(0.0 <= n["onset"] < seconds for melody in note_lists[n_notes:] for n in melody)
    # The first window starts with its phrase: its notes are the phrase's first ones, onsets unchanged.
    first = phrases.notes_beside(pairing.family_phrases(notes_and_phrases, "valid", "flute")[0].path)
    assert note_lists[n_notes] == [n for n in first if n["onset"] < seconds]

    shape = (config["freq_bins"], config["frames"], 1)
    identity = keras.Sequential([keras.Input(shape), keras.layers.Identity()])
    chosen = selection.SelectByJudge(waveforms, "keyboard", lambda m: identity, None, None, *shape[:2],
                                     note_lists=note_lists)
    plain = selection.SelectByJudge(waveforms, "keyboard", lambda m: identity, None, None, *shape[:2])
    assert chosen.phrase_judge.unit == "note" and plain.phrase_judge is None
    by_note, whole = chosen.probabilities(identity), plain.probabilities(identity)
    np.testing.assert_allclose(by_note[:n_notes], whole[:n_notes], rtol=1e-6)  # notes: the note judge
    translated = chosen.translations(identity)
    lengths = [len(w) for w in waveforms[n_notes:]]
    assert chosen.lengths[n_notes:] == lengths and max(lengths) <= translated.shape[1]
    for y, melody, p, n in zip(translated[n_notes:], note_lists[n_notes:], by_note[n_notes:], lengths):
        # Judged over the window's own length: the padding of a short last window is not part of its last note.
        np.testing.assert_allclose(p, evaluate.load_phrase_judge().classify_windows(y[:n], melody, [0], n)[0],
                                   rtol=1e-5)
    assert not np.allclose(by_note[n_notes:], whole[n_notes:])  # the windows are judged differently


def test_window_notes_keep_the_note_sounding_at_the_start():
    melody = [{"onset": 0.0, "offset": 0.4, "pitch": 60}, {"onset": 0.5, "offset": 1.7, "pitch": 62},
              {"onset": 2.5, "offset": 2.9, "pitch": 64}, {"onset": 3.2, "offset": 3.6, "pitch": 65}]
    sr = audio.SAMPLE_RATE
    # A window from 2 s to 3 s: the note from 0.5 s was released at 1.7 s, but lasts to the next onset for
    # the judge, so it opens the window at 0 s; the note at 2.5 s moves to 0.5 s; the one at 3.2 s is outside.
    found = selection.window_notes(melody, 2 * sr, sr)
    assert [n["pitch"] for n in found] == [62, 64]
    np.testing.assert_allclose([(n["onset"], n["offset"]) for n in found], [(0.0, 0.0), (0.5, 0.9)], atol=1e-9)
    assert selection.window_notes(melody, 0, sr) == melody[:2]
    assert [n["onset"] for n in selection.window_notes(melody, int(0.5 * sr), sr)] == [0.0]  # starts with a note


def test_a_best_judged_another_way_is_not_compared_against(notes_and_phrases, tmp_path):
    import json

    import keras

    config = presets.resolve("cgan", "tiny", select_notes=2)
    waveforms = selection.validation_waveforms(notes_and_phrases, "flute", config)
    shape = (config["freq_bins"], config["frames"], 1)
    identity = keras.Sequential([keras.Input(shape), keras.layers.Identity()])
    path = str(tmp_path / "best.keras")
    identity.save(path)
    record = {"epoch": 3, "val_judged_target": 1.0, "val_target_probability": 1.0}
    level = pipeline.DEFAULT_INPUT_PEAK_DB  # the exports' level matching, and so the selection's
    for saved, kept in ((record, False), ({**record, "judged_from": "wav16", "input_peak_db": level}, False),
                        ({**record, "judged_from": selection.JUDGED_FROM, "input_peak_db": level}, True)):
        with open(path + ".json", "w") as f:
            json.dump(saved, f)
        callback = selection.SelectByJudge(waveforms, "keyboard", lambda m: identity, None, path, *shape[:2])
        assert (callback.best is not None) == kept
    # Nor one judged at another input level.
    with open(path + ".json", "w") as f:
        json.dump({**record, "judged_from": selection.JUDGED_FROM, "input_peak_db": -19.0}, f)
    for level, kept in ((-19.0, True), (-12.0, False), (None, False)):
        callback = selection.SelectByJudge(waveforms, "keyboard", lambda m: identity, None, path, *shape[:2],
                                           input_peak_db=level)
        assert (callback.best is not None) == kept, level


def test_selection_converts_through_the_exports_graph(notes_and_phrases):
    """What is judged is what the export's ``serving_default`` gives, written as a WAV file holds it."""
    import keras
    import tensorflow as tf

    config = presets.resolve("cgan", "tiny", select_notes=2)
    note = selection.validation_waveforms(notes_and_phrases, "flute", config)[0]
    shape = (config["freq_bins"], config["frames"], 1)
    identity = keras.Sequential([keras.Input(shape), keras.layers.Identity()])
    matched = selection.SelectByJudge([note, 0.1 * note], "keyboard", lambda m: identity, None, None, *shape[:2],
                                      input_peak_db=-19.0)
    translated = matched.translations(identity)
    module = pipeline.build_serving_module(identity, phase="source", input_peak_db=-19.0)
    served = module.serving_default(waveform=tf.constant(matched.waveforms))["waveform"].numpy()
    np.testing.assert_allclose(translated, audio.as_written(served), atol=1e-6)
    # Level matched, then scaled back: a note and the same note 20 dB softer convert alike, each at its own level.
    assert np.abs(translated[0]).max() > 0.01
    np.testing.assert_allclose(translated[1], 0.1 * translated[0], atol=2e-4)


@pytest.mark.parametrize("style_target", ["family", "pitch"])
def test_faster_fits_on_phrase_windows(notes_and_phrases, classifier_path, style_target):
    from soundtransform.methods import faster

    config = presets.resolve("faster", "tiny", classifier=classifier_path, train_on="phrases",
                             style_target=style_target)
    train_ds, valid_ds, info = faster.make_datasets(notes_and_phrases, config, source="flute", target="keyboard")
    assert info["train_on"] == "phrases" and info["train_notes"] == 0
    assert info["train_phrase_pairs" if style_target == "pitch" else "train_phrases"] > 0
    first = next(iter(train_ds))
    images = first[0] if style_target == "pitch" else first
    assert images.shape == (config["freq_bins"], config["frames"], 1) and phrases.is_sounding(images)
    model = faster.build(config, info)
    before = [v.numpy().copy() for v in model.transform_net.trainable_variables]
    history = model.fit(batch(train_ds, config, training=True), epochs=1, steps_per_epoch=1, verbose=0)
    assert not all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.transform_net.trainable_variables))
    assert all(np.isfinite(v[0]) for v in history.history.values())


def test_faster_phrase_pairs_are_the_cgans_aligned_windows(notes_and_phrases, classifier_path):
    """With same-pitch targets, Faster's phrase pairs are exactly the cgan's (same melody, same frames)."""
    from soundtransform.methods import faster

    keyboards = sorted({p.instrument_str for p in pairing.family_phrases(notes_and_phrases, "train", "keyboard")})
    settings = dict(train_on="phrases", target_instruments=keyboards[0])
    config = presets.resolve("faster", "tiny", classifier=classifier_path, style_target="pitch", **settings)
    ours, _, info = faster.make_datasets(notes_and_phrases, config, source="flute", target="keyboard")
    theirs, _, _ = cgan.make_datasets(notes_and_phrases, presets.resolve("cgan", "tiny", **settings),
                                      source="flute", target="keyboard")
    ours, theirs = list(ours.as_numpy_iterator()), list(theirs.as_numpy_iterator())
    assert len(ours) == len(theirs) > info["train_phrase_pairs"]  # several windows a phrase
    for (s, t), (s2, t2) in zip(ours, theirs):
        np.testing.assert_array_equal(s, s2)
        np.testing.assert_array_equal(t, t2)
    assert info["target_instruments"] == [keyboards[0]]


def test_faster_judge_selection_hears_phrase_windows(notes_and_phrases, classifier_path, tmp_path):
    from soundtransform.methods import faster

    config = presets.resolve("faster", "tiny", classifier=classifier_path, train_on="both", select_by="judge",
                             select_notes=3)
    info = {"root": notes_and_phrases, "source": "flute", "target": "keyboard"}
    judged = faster.callbacks(None, config, str(tmp_path), None, info)[0]
    assert isinstance(judged, selection.SelectByJudge) and judged.phase == "source"  # as Faster's exports
    assert len(judged.waveforms) == 6 and judged.note_lists[:3] == [None] * 3 and all(judged.note_lists[3:])
