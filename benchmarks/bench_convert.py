"""Which rows above ``freq_bins`` sound closer to the target: the input's own, or silence.

Run from the repository root::

    python benchmarks/bench_convert.py --data DATA [--model NAME_OR_PATH] [--generator cgan|cyclegan]
                                       [--preset default|paper] [--trained-generator RUN_DIR_OR_KERAS]

For paired flute/keyboard notes of the same pitch, an oracle "perfect
generator" gives the real keyboard note's lowest ``freq_bins`` rows; the rows
above are either the flute's own (``upper_bins="source"``) or silence
(``"silent"``).  Printed: the mean log-spectral distance (dB) of the upper rows
to the real keyboard note; with ``--trained-generator``, the same for a trained
generator's outputs.  ``freq_bins`` is the model's (``--model``), or the
preset's.  Conversion speed is `bench_runtime.py`'s.
"""

import argparse
import os
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from soundtransform import audio, convert, export, pipeline, presets, registry  # noqa: E402
from soundtransform.training import runs  # noqa: E402



def untrained_generator(method, preset):
    """A generator of ``method``'s preset size with random weights, and its config."""
    config = presets.resolve(method, preset)
    shape = (config["freq_bins"], config["frames"], 1)
    if method == "cgan":
        from soundtransform.networks.unet import UNet

        net = UNet(shape, ngf=config["ngf"], depth=config["depth"], norm=config["norm"], dropout=config["dropout"])
    else:
        from soundtransform.networks.resnet_generator import ResNetGenerator

        net = ResNetGenerator(shape, ngf=config["ngf"], n_downsampling=config["n_downsampling"],
                              n_residual_blocks=config["n_residual_blocks"], norm=config["norm"])
    return net, config


def note_paths(data_dir, family, count):
    from soundtransform import data

    notes = []
    for split in ("test", "valid", "train"):
        if os.path.isdir(os.path.join(data_dir, f"nsynth-{split}")):
            notes += data.select(data.read_split(data_dir, split), families=[family])
    return [n for n in notes][:count], notes


def bench_upper_bins(data_dir, freq_bins, source, target, pairs=150):
    """How close each ``upper_bins`` option's rows above ``freq_bins`` are to the real target.

    For random same-pitch, same-velocity (source, target) note pairs; the oracle
    low band is the target's own, so only the upper rows differ.

    Returns
    -------
    (pairs, {option: {"lsd_all", "lsd_active", "convergence"}})
        ``lsd_all``: RMS dB difference over every upper bin; ``lsd_active``:
        over the bins where the target is above -60 dB; ``convergence``:
        ``||U - T|| / ||T||`` of linear magnitudes (silence gives exactly 1).
    """
    _, sources = note_paths(data_dir, source, 10**6)
    _, targets = note_paths(data_dir, target, 10**6)
    by_pitch = {}
    for note in targets:
        by_pitch.setdefault((note.pitch, note.velocity), note)
    matched = [(s, by_pitch[(s.pitch, s.velocity)]) for s in sources if (s.pitch, s.velocity) in by_pitch]
    rng = np.random.default_rng(0)
    matched = [matched[i] for i in rng.permutation(len(matched))[:pairs]]
    scores = {option: {"lsd_all": [], "lsd_active": [], "convergence": []} for option in pipeline.UPPER_BINS}
    db_per_unit = -audio.DB_FLOOR / 2.0
    for s, t in matched:
        s_img = audio.waveform_to_image(audio.load(s.path))[0].numpy()[freq_bins:]
        t_img = audio.waveform_to_image(audio.load(t.path))[0].numpy()[freq_bins:]
        t_mag = audio.image_to_magnitude(t_img).numpy()
        active = t_img > 1.0 - 2.0 * 60.0 / -audio.DB_FLOOR
        for option, upper in (("source", s_img), ("silent", -np.ones_like(t_img))):
            err = (upper - t_img) * db_per_unit
            scores[option]["lsd_all"].append(np.sqrt(np.mean(err**2)))
            if active.any():
                scores[option]["lsd_active"].append(np.sqrt(np.mean(err[active] ** 2)))
            if np.linalg.norm(t_mag) > 0:
                u_mag = audio.image_to_magnitude(upper).numpy()
                scores[option]["convergence"].append(np.linalg.norm(u_mag - t_mag) / np.linalg.norm(t_mag))
    return len(matched), {o: {k: float(np.mean(v)) for k, v in d.items()} for o, d in scores.items()}


def bench_upper_bins_trained(generator_file, data_dir, source, target, pairs=40):
    """Like `bench_upper_bins`, with a trained generator's real output as the low band.

    Returns ``{option: (full-band, upper-band log-spectral distance in dB)}`` of
    the converted test-split source notes to same-pitch real target notes.
    """
    from soundtransform import data

    generator = runs.load_generator(generator_file)
    modules = {option: pipeline.build_serving_module(generator, upper_bins=option) for option in pipeline.UPPER_BINS}
    freq_bins = modules["silent"].settings["freq_bins"]
    test = data.read_split(data_dir, "test")
    by_pitch = {}
    for note in data.select(test, families=[target]):
        by_pitch.setdefault((note.pitch, note.velocity), note)
    matched = [(s, by_pitch[(s.pitch, s.velocity)]) for s in data.select(test, families=[source])
               if (s.pitch, s.velocity) in by_pitch]
    rng = np.random.default_rng(0)
    matched = [matched[i] for i in rng.permutation(len(matched))[:pairs]]
    scores = {option: ([], []) for option in modules}
    for s, t in matched:
        y = audio.load(s.path)
        t_img = audio.waveform_to_image(audio.load(t.path))[0].numpy()
        for option, module in modules.items():
            out = module.serving_default(y[None])["waveform"].numpy()[0]
            o_img = audio.waveform_to_image(out)[0].numpy()
            n = min(o_img.shape[1], t_img.shape[1])
            err = (o_img[:, :n] - t_img[:, :n]) * -audio.DB_FLOOR / 2.0
            scores[option][0].append(np.sqrt(np.mean(err**2)))
            scores[option][1].append(np.sqrt(np.mean(err[freq_bins:] ** 2)))
    return len(matched), {o: (float(np.mean(a)), float(np.mean(b))) for o, (a, b) in scores.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--generator", default="cgan", choices=("cgan", "cyclegan"))
    parser.add_argument("--preset", default="default")
    parser.add_argument("--data", required=True, help="NSynth-layout dataset with at least 100 flute notes")
    parser.add_argument("--trained-generator", default=None, metavar="RUN_DIR_OR_KERAS",
                        help="Also compare the upper_bins options on this trained generator's outputs.")
    args = parser.parse_args()

    import tensorflow as tf

    work = tempfile.mkdtemp(prefix="bench_convert.")
    try:
        what = args.model
        if what is None and registry.default_model() in registry.model_names():
            what = registry.default_model()
        if what is not None:
            version_dir = registry.find_version(what)
            described = f"exported model {version_dir}"
        else:
            net, config = untrained_generator(args.generator, args.preset)
            version_dir = export.export_generator(net, f"bench_{args.generator}", {"method": args.generator},
                                                  base_dir=os.path.join(work, "models"))
            described = (f"UNTRAINED {type(net).__name__} of the {args.generator} '{args.preset}' preset "
                         f"({config['freq_bins']}x{config['frames']}, {net.count_params():,} parameters)")
        model = convert.load_model(version_dir)
        md = model.metadata
        print(f"model: {described}; phase {md['phase']}, overlap {md['overlap']} frames")
        print(f"machine: {os.cpu_count()} CPU cores, GPUs: {len(tf.config.list_physical_devices('GPU'))}, "
              f"TensorFlow {tf.__version__}, load average {os.getloadavg()[0]:.1f} at the start")

        freq_bins = md["freq_bins"]
        if freq_bins < audio.N_FREQ:
            for source, target in (("flute", "keyboard"), ("keyboard", "flute")):
                n, scores = bench_upper_bins(args.data, freq_bins, source, target)
                print(f"rows above {freq_bins}, {source} -> {target} (oracle low band, {n} pairs), "
                      "distance of the upper band to the real target:")
                for option, d in scores.items():
                    print(f"  upper_bins={option:7s} log-spectral {d['lsd_all']:.2f} dB (all bins), "
                          f"{d['lsd_active']:.1f} dB (target above -60 dB); convergence {d['convergence']:.3f}")
        if args.trained_generator:
            path, run = runs.find_run_generator(args.trained_generator)
            source, target = run.get("source", "flute"), run.get("target", "keyboard")
            n, scores = bench_upper_bins_trained(path, args.data, source, target)
            print(f"trained generator {path}, {n} test {source} notes vs same-pitch real {target} notes:")
            for option, (full, upper) in scores.items():
                print(f"  upper_bins={option:7s} log-spectral {full:.2f} dB (whole output), {upper:.2f} dB (upper rows)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
