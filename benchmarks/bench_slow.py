"""Speed and convergence of Slow style transfer (`soundtransform.methods.slow`).

Converts a 4 s flute note to a keyboard note's style at the ``default`` preset
and reports:

* the wall time of `stylize` (what ``convert --method slow`` does per file:
  optimise and invert), for the first call (which also builds the perceptual
  network and traces the step) and for later calls (which reuse them, as a
  folder conversion does), with the load average; with ``--folder N`` also
  ``convert --method slow`` on a folder of N held-out flute notes;
* milliseconds per Adam step;
* steps and seconds until the quality bar: the style (Gram) loss at or below
  ``--bar`` (default 50 %, also 80, 60 and 10 %) of its starting value, with
  the energy and frequency terms (those with a non-zero weight) at or below
  the same fraction;
* Griffin-Lim started from the content phase versus from zero phase: the
  spectral convergence ``||S - |STFT(y)||| / ||S||`` of each inversion to the
  optimised magnitudes (lower is better), with the same number of iterations.

With ``--ablation N --out DIR`` it instead links N held-out flute notes (test
split, pitches spread over the range) into ``DIR/inputs`` and writes their
Slow conversions (towards a train-split keyboard note of the same pitch), with
and without the energy/frequency constraints, into ``DIR/slow-CONDITION``, for
``soundtransform evaluate`` to judge (see `ablation`).

Usage::

    nice -n 10 python benchmarks/bench_slow.py --data DATA [--repeats 5] [--folder 6] [--classifier CLASSIFIER.keras]
    nice -n 10 python benchmarks/bench_slow.py --data DATA --ablation 24 --out out/ablation \\
        [--conditions slow-none,slow-default]

Without a trained classifier it uses a randomly initialised one of the same
size (VGG-19 width 1/8); the timings do not depend on the weights, the
convergence figures do.
"""

import argparse
import glob
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CONDITIONS = {  # folder name: stylize overrides
    "slow-none": dict(gamma=0.0, delta=0.0),
    "slow-energy": dict(gamma=1.0, delta=0.0),
    "slow-frequency": dict(gamma=0.0, delta=1.0),
    "slow-both": dict(gamma=1.0, delta=1.0),
    "slow-gamma1": dict(gamma=1.0, delta=0.0),
    "slow-gamma300": dict(gamma=300.0, delta=0.0),
    # one energy envelope over all frequencies (docs/experiments.md, Slow: 1 band against 64)
    "slow-bands1": dict(gamma=300.0, delta=0.0, energy_bands=1),
    "slow-bands24": dict(gamma=3000.0, delta=0.0, energy_bands=24),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", default=None, help="perceptual .keras file [default: the shipped one]")
    parser.add_argument("--data", default=None,
                        help="NSynth-layout dataset: its test notes of pitch 60 are the content and style "
                             "(unless --content and --style name them), and the --folder and --ablation notes")
    parser.add_argument("--content", default=None, help="content WAV [default: a test-split flute note, pitch 60]")
    parser.add_argument("--style", default=None, help="style WAV [default: a test-split keyboard note, pitch 60]")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--bar", type=float, default=0.5, help="quality bar, fraction of the starting loss")
    parser.add_argument("--folder", type=int, default=0,
                        help="also time `soundtransform convert --method slow` on a folder of N flute notes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ablation", type=int, default=0,
                        help="write the constraint ablation's inputs and Slow outputs for N notes into --out")
    parser.add_argument("--out", default="out/ablation", help="folder of the ablation's inputs and outputs")
    parser.add_argument("--conditions", default="slow-none,slow-default",
                        help="comma-separated: slow-default (the preset), " + ", ".join(CONDITIONS))
    args = parser.parse_args()
    if args.data is None and (args.ablation or args.folder or not (args.content and args.style)):
        parser.error("--data is needed unless --content and --style name the two notes (and no --folder, --ablation)")
    if args.ablation:
        return ablation(args)

    import numpy as np

    from soundtransform import audio, presets
    from soundtransform.methods import classifier as classifier_method
    from soundtransform.methods import slow

    content = audio.load(args.content or _note(args.data, "flute"))
    style = audio.load(args.style or _note(args.data, "keyboard"))
    config = presets.resolve("slow", args.preset)
    path = args.classifier or config["classifier"]
    try:
        classifier = classifier_method.load_perceptual_classifier(path)
        which = path
    except Exception:
        from soundtransform.networks.vgg19_audio import VGG19AudioClassifier

        classifier = VGG19AudioClassifier(input_shape=(128, 128, 1), width=1 / 8, dense_units=256)
        which = "random VGG-19 width 1/8 (no trained classifier found)"
    print(f"classifier: {which}; content {len(content) / audio.SAMPLE_RATE:.2f} s; preset {args.preset}: "
          f"steps={config['steps']} lr={config['learning_rate']} alpha={config['alpha']} beta={config['beta']} "
          f"gamma={config['gamma']} delta={config['delta']} griffin_lim_iters={config['griffin_lim_iters']}")

    # 1. stylize() end to end, as convert runs it per file: the first call
    #    builds the perceptual network and traces the step; later calls reuse them.
    load = os.getloadavg()
    start = time.perf_counter()
    slow.stylize(content, style, classifier=classifier, preset=args.preset, progress=False)
    first = time.perf_counter() - start
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        slow.stylize(content, style, classifier=classifier, preset=args.preset, progress=False)
        times.append(time.perf_counter() - start)
    other = content[: len(content) * 3 // 4]
    start = time.perf_counter()
    slow.stylize(other, style, classifier=classifier, preset=args.preset, progress=False)
    shorter = time.perf_counter() - start
    load = [max(a, b) for a, b in zip(load, os.getloadavg())]
    seconds = len(content) / audio.SAMPLE_RATE
    print(f"stylize() wall time, {seconds:.2f} s clip: first call (build + trace) {first:.2f} s; "
          f"then median {np.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, "
          f"{args.repeats} runs); a {len(other) / audio.SAMPLE_RATE:.2f} s clip after them {shorter:.2f} s "
          f"(no retrace); load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)")
    if args.folder:
        folder_time(args, config)

    # 2. Per-step cost, and 3. steps to the quality bar.
    transfer = slow.SlowStyleTransfer(
        classifier, content_layer=config["content_layer"], style_layers=config["style_layers"],
        alpha=config["alpha"], beta=config["beta"], gamma=config["gamma"], delta=config["delta"],
        learning_rate=config["learning_rate"], jit_compile=config["jit_compile"])
    content_image, content_phase = audio.waveform_to_image(content)
    style_image, _ = audio.waveform_to_image(audio.fit_length(style, len(content)))
    transfer(content_image[None], style_image[None], steps=2)  # trace
    steps = max(config["steps"], 200)
    start = time.perf_counter()
    image, history = transfer(content_image[None], style_image[None], steps=steps, init=config["init"])
    per_step = (time.perf_counter() - start) / steps
    print(f"Adam step on a {content_image.shape[0]}x{content_image.shape[1]} image: {1000 * per_step:.1f} ms")
    weighted = [(k, w) for k, w in (("style", "beta"), ("energy", "gamma"), ("frequency", "delta")) if config[w]]
    for key in ("content", "style", "energy", "frequency", "total"):
        values = history[key]
        print(f"  {key:9s} start {values[0]:.3g}  step {config['steps']} {values[config['steps']]:.3g}  "
              f"step {steps} {values[-1]:.3g}")
    for bar in sorted({args.bar, 0.8, 0.6, 0.5, 0.1}, reverse=True):
        reached = next((i for i in range(steps + 1) if all(
            history[k][i] <= bar * history[k][0] for k, w in weighted if history[k][0] > 0)), None)
        what = f"quality bar ({bar:.0%} of each weighted starting loss: {', '.join(k for k, _ in weighted)})"
        if reached is None:
            print(f"{what} not reached in {steps} steps")
        else:
            print(f"{what} reached at step {reached}: {reached * per_step:.2f} s of optimisation")

    # 4. Griffin-Lim: start from the content phase or from zero phase.
    image, _ = transfer(content_image[None], style_image[None], steps=config["steps"], init=config["init"])
    magnitude = audio.image_to_magnitude(image[0])
    for n_iter in (0, 8, 16, 32, 100):
        from_content = audio.griffin_lim(magnitude, len(content), n_iter=n_iter, init_phase=content_phase)
        from_zero = audio.griffin_lim(magnitude, len(content), n_iter=n_iter)
        print(f"Griffin-Lim {n_iter:3d} iterations: spectral convergence from content phase "
              f"{audio.spectral_convergence(magnitude, from_content):.3f}, from zero phase "
              f"{audio.spectral_convergence(magnitude, from_zero):.3f}")


def folder_time(args, config):
    """Wall time of ``soundtransform convert --method slow`` (the library call) on a folder of flute notes."""
    import tempfile

    import numpy as np

    from soundtransform import convert, data

    flutes = data.select(data.read_split(args.data, "test"), families=["flute"], velocities=[100])
    picks = np.linspace(0, len(flutes) - 1, args.folder).round().astype(int)
    with tempfile.TemporaryDirectory() as tmp:
        in_dir = os.path.join(tmp, "in")
        os.makedirs(in_dir)
        for i in picks:
            os.symlink(os.path.abspath(flutes[i].path), os.path.join(in_dir, os.path.basename(flutes[i].path)))
        load = os.getloadavg()
        start = time.perf_counter()
        convert.convert_folder(in_dir, os.path.join(tmp, "out"), method="slow",
                               style=args.style or _note(args.data, "keyboard"), progress=False,
                               preset=args.preset)
        total = time.perf_counter() - start
    print(f"convert --method slow, folder of {len(picks)} 4 s flute notes: {total:.1f} s, "
          f"{total / len(picks):.2f} s per file (first file includes loading and tracing); "
          f"load average {load[0]:.1f} at the start")


def ablation(args):
    """Slow with and without the energy/frequency constraints, written as folders for ``soundtransform evaluate``.

    ``OUT/inputs`` gets links to N held-out flute notes (test split, velocity
    100, pitches spread over the range); ``OUT/slow-CONDITION`` their Slow
    conversions, each towards a keyboard note of the same pitch from the
    *train* split (so the style note is never one of the test-split keyboard
    notes that ``evaluate`` measures distances to).  Other methods convert
    ``OUT/inputs`` into their own folders; then, per folder::

        soundtransform evaluate OUT/slow-none --inputs OUT/inputs --source flute --target keyboard \
            --data DATA --split test --out OUT/report-slow-none
    """
    import numpy as np

    from soundtransform import audio, data
    from soundtransform.methods import slow

    out = args.out
    flutes = data.select(data.read_split(args.data, "test"), families=["flute"], velocities=[100])
    keyboards = data.select(data.read_split(args.data, "train"), families=["keyboard"], velocities=[100])
    keyboard_pitches = {n.pitch for n in keyboards}
    flutes = sorted((n for n in flutes if n.pitch in keyboard_pitches), key=lambda n: (n.pitch, n.instrument_str))
    picks = np.linspace(0, len(flutes) - 1, args.ablation).round().astype(int)
    inputs_dir = os.path.join(out, "inputs")
    os.makedirs(inputs_dir, exist_ok=True)
    notes = []
    for i in picks:
        content = flutes[i]
        same = [n for n in keyboards if n.pitch == content.pitch]
        notes.append((content, same[i % len(same)]))
        link = os.path.join(inputs_dir, os.path.basename(content.path))
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(content.path), link)
    print(f"{len(notes)} flute test notes, pitches {', '.join(str(c.pitch) for c, _ in notes)} -> {inputs_dir}")
    names = [n.strip() for n in args.conditions.split(",")]
    unknown = [n for n in names if n != "slow-default" and n not in CONDITIONS]
    if unknown:
        raise SystemExit(f"unknown conditions {unknown}; choose from slow-default, {', '.join(CONDITIONS)}")
    for name in names:
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        start = time.perf_counter()
        for content, style in notes:
            path = os.path.join(folder, os.path.basename(content.path))
            if os.path.exists(path):
                continue
            y = slow.stylize(audio.load(content.path), audio.load(style.path), classifier=args.classifier,
                             preset=args.preset, progress=False, **CONDITIONS.get(name, {}))
            audio.save(path, y)
        print(f"{name}: {folder} ({time.perf_counter() - start:.0f} s)", flush=True)


def _note(root, family):
    paths = sorted(glob.glob(os.path.join(root, "nsynth-test", "audio", f"{family}_*-060-100.wav")))
    if not paths:
        raise SystemExit(f"no {family} note of pitch 60 in {root}/nsynth-test; pass --content/--style")
    return paths[0]


if __name__ == "__main__":
    main()
