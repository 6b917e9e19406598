"""Before and after: one held-out flute note converted to keyboard by every method, in one picture.

Picks a test-split flute note (an instrument no model heard), converts it
with each shipped flute -> keyboard model and with Slow (towards the
train-split keyboard note of the same pitch and velocity), asks the shipped
judge what each output is, and draws the input and every output side by
side as labelled spectrograms (the README's "before/after" picture).
With ``--wavs DIR`` the input and outputs are written there too, to listen to
(rendered audio is not committed, so not next to the picture).  Prints each
output's label and verdict.

Usage::

    python benchmarks/method_pictures.py --data DATA [--pitch 67] [--out docs/before_after.png] [--wavs DIR]
"""

import argparse
import os

import numpy as np

from soundtransform import audio, convert, data, evaluate, plot
from soundtransform.methods import slow

MODELS = ("faster_flute_to_keyboard", "cgan_flute_to_keyboard", "cyclegan_flute_to_keyboard")


def _note(root, split, family, pitch, velocity, instrument=None):
    notes = [n for n in data.select(data.read_split(root, split), families=[family])
             if n.pitch == pitch and n.velocity == velocity and instrument in (None, n.instrument_str)]
    if not notes:
        raise SystemExit(f"no {family} note of pitch {pitch}, velocity {velocity} in split {split!r} of {root}")
    return sorted(notes, key=lambda n: n.note_str)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="NSynth-layout dataset (its test split)")
    parser.add_argument("--pitch", type=int, default=67)
    parser.add_argument("--velocity", type=int, default=100)
    parser.add_argument("--instrument", default=None, help="test-split flute instrument_str [default: the first]")
    parser.add_argument("--out", default="docs/before_after.png")
    parser.add_argument("--wavs", default=None, help="also write the input and outputs as WAVs into this folder")
    args = parser.parse_args()

    flute = _note(args.data, "test", "flute", args.pitch, args.velocity, args.instrument)
    style = _note(args.data, "train", "keyboard", args.pitch, args.velocity)
    y = audio.load(flute.path)
    outputs = {f"input: {flute.note_str}": y}
    outputs["slow (style: " + style.instrument_str + ")"] = slow.stylize(y, audio.load(style.path), progress=False)
    for name in MODELS:
        model = convert.load_model(name)
        outputs[f"{name.split('_')[0]} v{os.path.basename(model.path)}"] = model.convert(y)
    judged = np.argmax(evaluate.classify_waveforms(list(outputs.values())), axis=1)
    titles = [f"{title}\njudged {data.FAMILIES[j]}" for title, j in zip(outputs, judged)]
    images = [audio.waveform_to_image(audio.fit_length(w, len(y)))[0].numpy() for w in outputs.values()]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    plot.save_spectrograms(args.out, images, titles,
                           suptitle=f"A held-out flute note (MIDI {args.pitch}) to keyboard, every method")
    if args.wavs:
        os.makedirs(args.wavs, exist_ok=True)
        for w, label in zip(outputs.values(), ["input", "slow", *[m.split("_")[0] for m in MODELS]]):
            audio.save(os.path.join(args.wavs, f"{label}.wav"), w)
    for title in titles:
        print(title.replace("\n", ": "))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
