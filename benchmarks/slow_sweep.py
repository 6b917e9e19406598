"""Slow style transfer settings compared on held-out flutes: judged keyboard, pitch, and what is kept.

For each ``LABEL=KEY:VALUE,KEY:VALUE`` setting (overrides of the ``default``
preset of `soundtransform.methods.slow.stylize`), converts the velocity-100
flute notes of a split (pitches every ``--step`` semitones from 36 to 96)
towards the note of the first train-split keyboard instrument (or
``--style-instrument``) at the flute's *sounding* pitch (pYIN, rounded; a
flute whose samples are mistuned still gets a style at its own pitch), and
prints:

* the share judged keyboard by the shipped judge (written as 16-bit WAV first,
  as ``evaluate`` hears files), and what the rest were called;
* the share within 50 cents of the input's pitch (pYIN);
* the mean absolute dB difference of the output's spectrogram to the
  content's and to the style's, over bins within 50 dB of either's peak
  (lower: nearer).

Choose settings on ``--split valid``; report the chosen one on ``test``
(``bench_slow.py --ablation``, then ``soundtransform evaluate``).

Usage::

    python benchmarks/slow_sweep.py --data /work/data/sf2 --split valid --step 1 \\
        one-band=energy_bands:1,gamma:300 bands64=energy_bands:64,gamma:3000
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _setting(text):
    label, _, pairs = text.partition("=")
    overrides = {}
    for pair in filter(None, pairs.split(",")):
        key, _, value = pair.partition(":")
        try:
            overrides[key] = int(value)
        except ValueError:
            try:
                overrides[key] = float(value)
            except ValueError:
                overrides[key] = value
    return label, overrides


def _db_distance(a, b):
    """Mean |dB difference| of two clips' spectrograms where either is within 50 dB of its peak."""
    import numpy as np

    from soundtransform import audio

    x, y = (audio.waveform_to_image(v)[0].numpy()[..., 0] * (-audio.DB_FLOOR / 2.0) for v in (a, b))
    sounding = (x > x.max() - 50.0) | (y > y.max() - 50.0)
    return float(np.abs(x - y)[sounding].mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", type=_setting, help="LABEL=KEY:VALUE,... (overrides)")
    parser.add_argument("--data", default="/work/data/sf2")
    parser.add_argument("--split", default="valid")
    parser.add_argument("--step", type=int, default=3, help="semitones between the pitches [3]")
    parser.add_argument("--style-instrument", default=None, help="train keyboard [default: the first]")
    args = parser.parse_args()

    import numpy as np

    from soundtransform import audio, data, evaluate
    from soundtransform.methods import slow

    flutes = data.select(data.read_split(args.data, args.split), families=["flute"], velocities=[100])
    flutes = sorted((n for n in flutes if n.pitch in range(36, 97, args.step)), key=lambda n: n.note_str)
    keyboards = data.select(data.read_split(args.data, "train"), families=["keyboard"], velocities=[100])
    instrument = args.style_instrument or min(n.instrument_str for n in keyboards)
    style_at = {n.pitch: n for n in keyboards if n.instrument_str == instrument}
    inputs, styles = [], []
    for note in flutes:
        y = audio.load(note.path)
        sounding = int(round(12.0 * np.log2(evaluate.f0(y) / 440.0) + 69.0))
        if sounding in style_at:
            inputs.append(y)
            styles.append(audio.load(style_at[sounding].path))
    print(f"{args.split}: {len(inputs)} flute notes; style {instrument} at each one's sounding pitch", flush=True)
    keyboard = data.FAMILIES.index("keyboard")
    apart = np.mean([_db_distance(x, s) for x, s in zip(inputs, styles)])
    print(f"content to style, unconverted: {apart:.1f} dB")
    print("| setting | judged keyboard | pitch within 50 cents | dB to content | dB to style | what else | s a note |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, overrides in args.settings:
        start = time.perf_counter()
        outputs = [audio.as_written(slow.stylize(x, s, progress=False, **overrides)) for x, s in zip(inputs, styles)]
        seconds = (time.perf_counter() - start) / len(outputs)
        judged = np.argmax(evaluate.classify_waveforms(outputs), axis=1)
        others = {}
        for i in judged[judged != keyboard]:
            others[data.FAMILIES[i]] = others.get(data.FAMILIES[i], 0) + 1
        pitch = evaluate.pitch_preservation(outputs, inputs)["within_50_cents"]
        to_content = np.mean([_db_distance(o, x) for o, x in zip(outputs, inputs)])
        to_style = np.mean([_db_distance(o, s) for o, s in zip(outputs, styles)])
        rest = ", ".join(f"{k} {v}" for k, v in sorted(others.items(), key=lambda kv: -kv[1])) or "-"
        print(f"| {label} | {np.mean(judged == keyboard):.1%} | {pitch:.1%} | {to_content:.1f} | {to_style:.1f} "
              f"| {rest} | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
