"""Every shipped model, and Slow, on held-out instruments, judged by the shipped judge.

Issue #7's bars (90 % judged as the target family for Faster, the cgan and
the CycleGAN, 70 % for Slow; 95 % of pitches within 50 cents for all) are
measured on the 222 test-split notes by ``benchmarks/evaluate_model.sh``
(README, "Results on held-out instruments").  This test is the quick guard
that runs in CI: 21 test-split notes of each direction (3 instruments no model
heard, G3-G5 every 4 semitones, velocity 100), converted by each shipped
model and written as WAV (`audio.as_written`).  Each model must keep what it
reached with the shipped judge, with a margin of two notes; a new shipped
model, or a change to export, conversion or the judge, that loses it fails
here.

Measured on these 21 notes with the judge of the seventh session (features
floored 50 dB below each window's loudest bin, trained on data saved with
rounding), judged target / pitch within 50 cents: cgan v4 13 / 21 and
21 / 21; cgan v5 19 / 21 and 21 / 21; the default cgan v6 and the phrases
cgan v2 (the same generator, shipped in the eighth session) 18 / 21 and
21 / 21; the default v7 (tenth session: the mean of v6's and the notes model's weights)
19 / 21 and 21 / 21; the notes cgan v1 20 / 21 and 21 / 21; Slow 4 / 21 and 21 / 21 with one energy envelope,
18 / 21 and 21 / 21 with one per band (``energy_bands=64``, the default since the nineteenth session);
CycleGAN flute -> keyboard 6 / 21 and 21 / 21 (v2 20 / 21, v3 18 / 21, v4 17 / 21, all 21 / 21 in
pitch), keyboard -> flute 12 / 21 and 21 / 21; Faster v1 0 / 21 and 11 / 21, Faster v2 (thirteenth session) 5 / 21 and 21 / 21,
Faster v3 (fourteenth session) 16 / 21 and 21 / 21, Faster v4 (nineteenth session) 19 / 21 and 21 / 21; the Faster phrases model v1 (fifteenth
session) 11 / 21 and 21 / 21.  The judge before it (no floor) gave v4
20, Slow 17 and the CycleGAN 4 and 7: it heard the quiet tails (docs/history.md,
"The judge hears the noise floor").

The twenty-fourth session re-exported every model but keyboard -> flute with level matching (each
input's peak moved to -19 dBFS for conversion): these notes are velocity 100, already near that level,
and give the same counts (the default v8 19, phrases v4 19, notes v2 20, Faster v5 19, Faster phrases v3
11), except the CycleGAN v4 17 (v3 18).  On the 222 test notes, which hold velocity 50 too, every model
gains 2.3-6.3 points (docs/history.md, "Twenty-fourth session").

The twenty-sixth session's cgan the other way round, `cgan_keyboard_to_flute` v1, has 19 of 21
keyboards judged flute (the other two vocal) on these notes, 92.8 % of the 222 test keyboards.
"""

import numpy as np
import pytest

import soundtransform
from soundtransform import audio, data, evaluate, phrases
from soundtransform.methods import slow
from soundtransform.render import render_dataset

PITCHES = tuple(range(55, 80, 4))  # G3 .. G5, in every SoundFont's flute range
NOTES = 21
PITCH_BAR = 0.95  # issue #7's pitch bar

# model -> (source, target, floor of the share judged target, floor of the share within 50 cents)
FLOORS = {
    # the shipped default, v7: the mean of v6's and the notes model's weights (tenth session); 19 of 21 (v6: 18)
    "cgan_flute_to_keyboard": ("flute", "keyboard", 17 / NOTES, PITCH_BAR),
    # v3 (twentieth session: v7 fine-tuned with a banded energy constraint); 19 of 21 (v2, v6's generator: 18)
    "cgan_flute_to_keyboard_phrases": ("flute", "keyboard", 17 / NOTES, PITCH_BAR),
    # v1: v6 fine-tuned with augmented inputs (ninth session); 20 of 21 judged keyboard (v6: 18), for notes
    "cgan_flute_to_keyboard_notes": ("flute", "keyboard", 18 / NOTES, PITCH_BAR),
    # energy_bands=64 (nineteenth session): 18 of 21 (one envelope: 4); issue #7's Slow bar is 70 % (15 of 21)
    "slow": ("flute", "keyboard", 16 / NOTES, PITCH_BAR),
    # v4 (twenty-fourth session: v3 with level matching); 17 of 21 (v3: 18, v2: 20, v1: 6), though 84.7 %
    # of the 222 test notes against v3's 78.4 % and v2's 73.4 %
    "cyclegan_flute_to_keyboard": ("flute", "keyboard", 16 / NOTES, PITCH_BAR),
    "cyclegan_keyboard_to_flute": ("keyboard", "flute", 10 / NOTES, PITCH_BAR),
    # v1 (twenty-sixth session: the cgan the other way round, notes and phrase windows); 19 of 21 judged flute
    "cgan_keyboard_to_flute": ("keyboard", "flute", 17 / NOTES, PITCH_BAR),
    # v4 (nineteenth session: v3 fine-tuned with a banded energy constraint, 64 bands); 19 of 21 judged
    # keyboard (v3: 16, v2: 5), 21 of 21 in pitch
    "faster_flute_to_keyboard": ("flute", "keyboard", 17 / NOTES, PITCH_BAR),
    # v2 (nineteenth session: v1 fine-tuned with a banded energy constraint); 11 of 21 judged keyboard (v1 11),
    # 21 of 21 in pitch
    "faster_flute_to_keyboard_phrases": ("flute", "keyboard", 9 / NOTES, PITCH_BAR),
}


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """Test-split flute and keyboard notes (instruments in no model's training data) and train keyboards."""
    root = str(tmp_path_factory.mktemp("held_out"))
    render_dataset(root, families=["flute", "keyboard"], pitches=PITCHES, velocities=(100,), progress=False)
    notes = {}
    for family in ("flute", "keyboard"):
        found = sorted(data.select(data.read_split(root, "test"), families=[family]), key=lambda n: n.note_str)
        assert len(found) == NOTES and len({n.instrument_str for n in found}) == 3
        notes[family] = found
    # Slow's style: the train split's first keyboard instrument at each note's pitch.
    train = data.select(data.read_split(root, "train"), families=["keyboard"])
    first = min(n.instrument_str for n in train)
    notes["style"] = {n.pitch: n for n in train if n.instrument_str == first}
    return notes


def _convert(name, sources, held_out):
    if name == "slow":
        return [slow.stylize(audio.load(n.path), audio.load(held_out["style"][n.pitch].path), progress=False)
                for n in sources]
    model = soundtransform.load_model(name)
    return [model.convert(audio.load(n.path)) for n in sources]


@pytest.mark.slow
def test_the_default_model_is_the_shipped_cgan():
    model = soundtransform.load_model()  # what `convert in.wav out.wav` uses
    assert model.name == "cgan_flute_to_keyboard"
    assert (model.metadata["source"], model.metadata["target"]) == ("flute", "keyboard")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FLOORS))
def test_shipped_model_keeps_its_level_on_held_out_notes(held_out, name):
    source, target, judged_floor, pitch_floor = FLOORS[name]
    inputs = [audio.load(n.path) for n in held_out[source]]
    outputs = [audio.as_written(y) for y in _convert(name, held_out[source], held_out)]
    index = data.FAMILIES.index(target)
    judged = np.argmax(evaluate.classify_waveforms(outputs), axis=1)
    baseline = np.argmax(evaluate.classify_waveforms(inputs), axis=1)
    assert np.mean(baseline == index) == 0.0  # the unconverted inputs are not the target to the judge
    if judged_floor is not None:
        assert np.mean(judged == index) >= judged_floor, [data.FAMILIES[i] for i in judged]
    pitch = evaluate.pitch_preservation(outputs, inputs)
    assert pitch["pairs"] == NOTES and pitch["within_50_cents"] >= pitch_floor, pitch


# Soft notes: the same 21 pitches at velocity 50, about 12 dB below the notes above.  Level matching
# (twenty-fourth session: every export converts each input with its peak at -19 dBFS) is what lets the
# shipped models convert them as well as loud ones: the CycleGAN v4 gets 18 / 21 judged keyboard, v3 (the
# same generator, converting as rendered) 12 / 21; the default cgan v8 19 / 21, v7 18 / 21.
SOFT_FLOORS = {"cgan_flute_to_keyboard": 17 / NOTES, "cyclegan_flute_to_keyboard": 16 / NOTES}


@pytest.fixture(scope="module")
def held_out_soft(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("held_out_soft"))
    render_dataset(root, families=["flute"], pitches=PITCHES, velocities=(50,), progress=False)
    found = sorted(data.select(data.read_split(root, "test"), families=["flute"]), key=lambda n: n.note_str)
    assert len(found) == NOTES and {n.velocity for n in found} == {50}
    return found


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SOFT_FLOORS))
def test_shipped_model_converts_soft_notes(held_out_soft, name):
    model = soundtransform.load_model(name)
    assert model.metadata.get("input_peak_db") is not None  # level matching, exported with the model
    inputs = [audio.load(n.path) for n in held_out_soft]
    assert max(audio.peak_db(y) for y in inputs) < -20.0  # softer than the level they are converted at
    outputs = [audio.as_written(model.convert(y)) for y in inputs]
    judged = np.argmax(evaluate.classify_waveforms(outputs), axis=1)
    assert np.mean(judged == data.FAMILIES.index("keyboard")) >= SOFT_FLOORS[name], \
        [data.FAMILIES[i] for i in judged]
    # The outputs come back at their inputs' level (measured: -7 to +3 dB apart, 2 dB on average), not
    # at the level they were converted at, about 10 dB above.
    assert abs(np.mean([audio.peak_db(out) - audio.peak_db(y) for y, out in zip(inputs, outputs)])) < 4.0
    assert evaluate.pitch_preservation(outputs, inputs)["within_50_cents"] >= PITCH_BAR


# Phrases: 2 melodies of 8 s by each of the 3 test flutes (24 windows of 2 s, 54 notes), converted and
# written as WAV (`audio.as_written`), judged note by note by the shipped judge of phrases.  Measured with
# the seventh session's judge: 16 / 24 windows judged keyboard for the default v6 and the phrases cgan v2
# (the same generator), 17 / 24 for the default v7 (tenth session), 14 / 24 for v5, 8 / 24 for v4; notes in
# pitch 53 / 54 for v7, v6 and v5, 54 / 54 for v4.  Faster: the phrases model v1 (fifteenth session) 14 / 24
# and 54 / 54, v2 (nineteenth session, banded energy) 15 / 24 and 54 / 54, the notes-only v3 8 / 24 and 52 / 54.
# The phrases cgan v3 (twentieth session: v7 fine-tuned with a banded energy constraint) 17 / 24.
PHRASE_FLOORS = {"cgan_flute_to_keyboard": (15 / 24, 0.9), "cgan_flute_to_keyboard_phrases": (15 / 24, 0.9),
                 "faster_flute_to_keyboard_phrases": (13 / 24, 0.9)}


@pytest.fixture(scope="module")
def held_out_phrases(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("held_out_phrases"))
    phrases.render_phrases(root, melodies=2, families=["flute"], progress=False)
    found = phrases.read_phrases(root, "test", families=["flute"])
    assert len(found) == 6 and len({p.instrument_str for p in found}) == 3
    return [audio.load(p.path) for p in found], [phrases.notes_beside(p.path) for p in found]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PHRASE_FLOORS))
def test_shipped_model_keeps_its_level_on_held_out_phrases(held_out_phrases, name):
    inputs, notes = held_out_phrases
    window_floor, pitch_floor = PHRASE_FLOORS[name]
    model = soundtransform.load_model(name)
    outputs = [audio.as_written(model.convert(y)) for y in inputs]
    judge = evaluate.load_phrase_judge()
    assert evaluate.window_consistency(inputs, "keyboard", judge, note_lists=notes)["as_target"] <= 1 / 24
    windows = evaluate.window_consistency(outputs, "keyboard", judge, note_lists=notes)
    assert windows["windows"] == 24 and windows["as_target"] >= window_floor, windows
    assert evaluate.note_pitch_accuracy(outputs, notes)["within_50_cents"] >= pitch_floor
