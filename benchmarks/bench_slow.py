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

With ``--ablation N`` it instead converts N held-out flute notes (test split,
pitches spread over the range) to the style of a keyboard note of the same
pitch, with and without the energy/frequency constraints, and judges the
outputs with `soundtransform.evaluate`: the judge classifier's keyboard
probability, pitch kept within 50 cents (pYIN) and the log-spectral distance
to the nearest other keyboard note of the same pitch.

Usage::

    nice -n 10 python benchmarks/bench_slow.py [--repeats 5] [--folder 6] [--classifier exported_models/classifiers/perceptual.keras]
    nice -n 10 python benchmarks/bench_slow.py --ablation 12 [--judge exported_models/classifiers/judge.keras]

Without a trained classifier it uses a randomly initialised one of the same
size (VGG-19 width 1/8); the timings do not depend on the weights, the
convergence figures do.
"""

import argparse
import glob
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", default=None, help="perceptual .keras file [default: the shipped one]")
    parser.add_argument("--data", default="/work/data/sf", help="NSynth-layout dataset for the two notes")
    parser.add_argument("--content", default=None, help="content WAV [default: a test-split flute note, pitch 60]")
    parser.add_argument("--style", default=None, help="style WAV [default: a test-split keyboard note, pitch 60]")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--bar", type=float, default=0.5, help="quality bar, fraction of the starting loss")
    parser.add_argument("--folder", type=int, default=0,
                        help="also time `soundtransform convert --method slow` on a folder of N flute notes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ablation", type=int, default=0, help="run the constraint ablation on N notes")
    parser.add_argument("--judge", default=None, help="judge .keras file [default: the shipped judge]")
    args = parser.parse_args()
    if args.ablation:
        return ablation(args)

    import numpy as np

    from soundtransform import audio, presets
    from soundtransform.methods import slow

    content = audio.load(args.content or _note(args.data, "flute"))
    style = audio.load(args.style or _note(args.data, "keyboard"))
    config = presets.resolve("slow", args.preset)
    path = args.classifier or config["classifier"]
    try:
        classifier = slow.load_perceptual_classifier(path)
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
    """With and without the energy/frequency constraints, judged by `soundtransform.evaluate`."""
    import numpy as np

    from soundtransform import audio, data, evaluate
    from soundtransform.methods import slow

    classifier = slow.load_perceptual_classifier(args.classifier)
    judge = evaluate.load_judge(args.judge)
    flutes = data.select(data.read_split(args.data, "test"), families=["flute"], velocities=[100])
    keyboards = data.select(data.read_split(args.data, "test"), families=["keyboard"], velocities=[100])
    keyboard_pitches = {n.pitch for n in keyboards}
    flutes = [n for n in flutes if n.pitch in keyboard_pitches]
    picks = np.linspace(0, len(flutes) - 1, args.ablation).round().astype(int)
    pairs = []
    for i in picks:
        content = flutes[i]
        same = [n for n in keyboards if n.pitch == content.pitch]
        style = same[i % len(same)]
        others = [(audio.load(n.path), n.pitch) for n in same if n != style]
        pairs.append((content, style, others))
    print(f"ablation: {len(pairs)} flute test notes -> keyboard; perceptual {args.classifier or 'default'}, "
          f"judge {args.judge or 'shipped judge'}")
    inputs = [audio.load(c.path) for c, _, _ in pairs]
    styles = [audio.load(s.path) for _, s, _ in pairs]
    targets = [t for _, _, others in pairs for t in others]
    pitches = [c.pitch for c, _, _ in pairs]
    keyboard = data.FAMILIES.index("keyboard")
    conditions = {"input (flute, unchanged)": None, "slow, gamma=delta=0": dict(gamma=0.0, delta=0.0),
                  "slow, energy only (delta=0)": dict(delta=0.0), "slow, frequency only (gamma=0)": dict(gamma=0.0),
                  f"slow, preset {args.preset}": {}}
    print("| condition | judge P(keyboard) | judged keyboard | pitch within 50 cents | LSD to nearest keyboard note, dB |")
    print("| --- | --- | --- | --- | --- |")
    for name, overrides in conditions.items():
        if overrides is None:
            outputs = inputs
        else:
            outputs = [slow.stylize(c, s, classifier=classifier, preset=args.preset, progress=False, **overrides)
                       for c, s in zip(inputs, styles)]
        probabilities = evaluate.classify_waveforms(outputs, judge)
        pitch = evaluate.pitch_preservation(outputs, inputs)
        distance = evaluate.nearest_target_distance(outputs, pitches, targets)
        print(f"| {name} | {probabilities[:, keyboard].mean():.2f} | "
              f"{np.mean(probabilities.argmax(1) == keyboard):.0%} | {pitch['within_50_cents']:.0%} | "
              f"{distance['mean_db']:.1f} |")


def _note(root, family):
    paths = sorted(glob.glob(os.path.join(root, "nsynth-test", "audio", f"{family}_*-060-100.wav")))
    if not paths:
        raise SystemExit(f"no {family} note of pitch 60 in {root}/nsynth-test; pass --content/--style")
    return paths[0]


if __name__ == "__main__":
    main()
