"""Speed of conversion in every runtime: stages, the CPU's matmul rate, start-up, folders.

Run from the repository root, on an idle machine::

    python benchmarks/bench_runtime.py [--model NAME] [--data DATA] [--formats onnx,tflite,savedmodel]
                                       [--repeats 20] [--cli-runs 5] [--no-cli]

Figures:

1. the CPU's float32 matmul rate (NumPy, 2048 x 2048, median of 5), the yardstick;
2. per runtime, one 4 s note in-process, median of ``--repeats`` after warm-up:
   read (decode + resample), STFT, network, inversion, write (WAV), the
   conversion's ratio to real time (STFT + network + inversion) and the
   network's GFLOP/s as a fraction of the matmul rate (FLOPs counted on the
   ONNX file's convolutions; the SavedModel runs the unfolded network, so its
   row gives the total only);
3. ``soundtransform convert NOTE OUT`` in a fresh process, start-up included:
   median of ``--cli-runs``, as typed (the default model, no flags) and per
   runtime; and ``python -c "import tensorflow"``
   for scale;
4. where a fresh process's time goes, per runtime (interpreter, imports,
   model load, first conversion, write; medians of ``--cli-runs``);
5. ``soundtransform convert FOLDER OUT`` on 100 four-second notes, start-up
   included: ratio to real time, per runtime.

A TFLite file the version lacks is written to a temporary folder first.  With
``--data`` the notes are the dataset's flutes (test split first); without it,
synthetic decaying harmonic tones.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from soundtransform import audio, convert, lite, registry  # noqa: E402

CLIP_SECONDS = 4.0
FOLDER_NOTES = 100


def matmul_gflops(n=2048, repeats=5):
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2.0 * n**3 / statistics.median(times) / 1e9


def onnx_gflop(path):
    """FLOPs of one window through the ONNX file's (transposed) convolutions, 2 per multiply-add, in GFLOP."""
    import onnx

    model = onnx.load(path)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    graph = onnx.shape_inference.infer_shapes(model).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(graph.value_info) + list(graph.output) + list(graph.input)}
    weights = {w.name: list(w.dims) for w in graph.initializer}
    total = 0
    for node in graph.node:
        if node.op_type == "Conv":  # weights [out, in, kh, kw]: each output takes in * kh * kw
            total += 2 * int(np.prod(shapes[node.output[0]])) * int(np.prod(weights[node.input[1]][1:]))
        elif node.op_type == "ConvTranspose":  # weights [in, out, kh, kw]: each input gives out * kh * kw
            total += 2 * int(np.prod(shapes[node.input[0]])) * int(np.prod(weights[node.input[1]][1:]))
    return total / 1e9


def notes(data_dir, count, work):
    """``count`` 4-s note files: the dataset's flutes, or synthetic tones."""
    paths = []
    if data_dir:
        from soundtransform import data

        for split in ("test", "valid", "train"):
            if os.path.isdir(os.path.join(data_dir, f"nsynth-{split}")):
                paths += [n.path for n in data.select(data.read_split(data_dir, split), families=["flute"])]
        if len(paths) < count:
            sys.exit(f"need {count} flute notes in {data_dir} (soundtransform data render)")
        return paths[:count]
    folder = os.path.join(work, "synthetic")
    os.makedirs(folder)
    t = np.arange(int(CLIP_SECONDS * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    for i in range(count):
        f0 = 220.0 * 2 ** ((i % 24) / 12)
        y = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6)) * np.exp(-t) * np.minimum(t / 0.05, 1)
        path = os.path.join(folder, f"note_{i:03d}.wav")
        audio.save(path, y.astype(np.float32))
        paths.append(path)
    return paths


def converter_for(version_dir, fmt, work):
    if fmt == "tflite" and not os.path.isfile(lite.network_file(version_dir, "tflite")):
        from soundtransform import formats

        copy = os.path.join(work, "tflite", os.path.basename(os.path.dirname(version_dir)),
                            os.path.basename(version_dir))
        shutil.copytree(version_dir, copy)
        formats.export_format(copy, "tflite")
        version_dir = copy
    return convert.load_model(version_dir, runtime=fmt), version_dir


def bench_stages(model, note_path, repeats, work):
    """Median seconds of each stage of one note, in-process.

    Conversions run back to back (``convert``: STFT, network, inversion, as
    `Converter.convert_batch` does them); reading and writing are timed in
    loops of their own.
    """
    y = audio.load(note_path)
    clip = audio.fit_length(y, int(CLIP_SECONDS * audio.SAMPLE_RATE))[None]
    for _ in range(3):
        out = model.convert_batch(clip)
    stages = {k: [] for k in ("read", "stft", "network", "inversion", "convert", "write")}
    for _ in range(repeats):
        t = time.perf_counter()
        model.convert_batch(clip)
        stages["convert"].append(time.perf_counter() - t)
        for key, seconds in getattr(getattr(model, "pipeline", None), "times", {}).items():
            stages[key].append(seconds)
    out_path = os.path.join(work, "stage.wav")
    for _ in range(repeats):
        t = time.perf_counter()
        audio.load(note_path)
        stages["read"].append(time.perf_counter() - t)
        t = time.perf_counter()
        audio.save(out_path, out[0])
        stages["write"].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in stages.items() if v}


def run_cli(args, runs):
    command = shutil.which("soundtransform")
    base = [command] if command else [sys.executable, os.path.join(ROOT, "cli.py")]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = subprocess.run(base + args, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if result.returncode != 0:
            sys.exit(f"soundtransform {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="An exported model [default: the default model].")
    parser.add_argument("--data", default=None, help="NSynth-layout dataset whose flutes are the notes.")
    parser.add_argument("--formats", default="onnx,tflite,savedmodel")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--no-cli", action="store_true", help="In-process figures only.")
    args = parser.parse_args()
    fmts = [f.strip() for f in args.formats.split(",") if f.strip()]

    work = tempfile.mkdtemp(prefix="bench_runtime.")
    try:
        version_dir = registry.find_version(args.model or registry.default_model())
        paths = notes(args.data, FOLDER_NOTES, work)
        rate = matmul_gflops()
        print(f"model {os.path.relpath(version_dir, ROOT)}; {os.cpu_count()} CPU cores, load average "
              f"{os.getloadavg()[0]:.1f}; matmul {rate:.0f} GFLOP/s (float32, NumPy)")
        onnx_file = lite.network_file(version_dir, "onnx")
        gflop = onnx_gflop(onnx_file) if os.path.isfile(onnx_file) else None
        if gflop:
            print(f"network: {gflop:.2f} GFLOP per window (ONNX file's convolutions)")
        print("\n| runtime | read | STFT | network | inversion | write | convert | x real time | network GFLOP/s "
              "| of matmul |\n|---|---|---|---|---|---|---|---|---|---|")
        dirs = {}
        for fmt in fmts:
            model, dirs[fmt] = converter_for(version_dir, fmt, work)
            s = bench_stages(model, paths[0], args.repeats, work)
            ms = {k: f"{v * 1000:.1f} ms" for k, v in s.items()}
            net = s.get("network")
            flops = f"{gflop / net:.0f} | {gflop / net / rate:.0%}" if net and gflop else "- | -"
            print(f"| {fmt} | {ms['read']} | {ms.get('stft', '-')} | {ms.get('network', '-')} | "
                  f"{ms.get('inversion', '-')} | {ms['write']} | {ms['convert']} | "
                  f"{CLIP_SECONDS / s['convert']:.0f}x | {flops} |")
            del model
        if args.no_cli:
            return
        tf_import = run_cli_python("import tensorflow", 3)
        print(f"\npython -c 'import tensorflow': median {statistics.median(tf_import):.2f} s")
        folder = os.path.join(work, "folder")
        os.makedirs(folder)
        for i, path in enumerate(paths):
            shutil.copy(path, os.path.join(folder, f"{i:03d}_{os.path.basename(path)}"))
        seconds = sum(audio.load(p).size for p in paths) / audio.SAMPLE_RATE
        print("\n| runtime | interpreter | imports | model load | first convert | write | TensorFlow imported |\n"
              "|---|---|---|---|---|---|---|")
        for fmt in fmts:
            times, tf_loaded = startup(dirs[fmt], fmt, paths[0], work, args.cli_runs)
            print(f"| {fmt} | " + " | ".join(f"{t:.2f} s" for t in times) + f" | {'yes' if tf_loaded else 'no'} |")
        print("\n| runtime | one note, CLI (median) | runs | folder of 100 notes, CLI | x real time |\n|---|---|---|---|---|")
        rows = [("plain (no flags)", [])] if args.model is None else []
        rows += [(fmt, ["--model", dirs[fmt], "--runtime", fmt]) for fmt in fmts]
        for fmt, model_args in rows:
            one = run_cli(["convert", paths[0], os.path.join(work, "one.wav"), "--overwrite"] + model_args,
                          args.cli_runs)
            many = run_cli(["convert", folder, os.path.join(work, f"out_{fmt}"), "--overwrite"] + model_args, 1)[0]
            print(f"| {fmt} | {statistics.median(one):.2f} s | {', '.join(f'{t:.2f}' for t in one)} | "
                  f"{many:.1f} s | {seconds / many:.0f}x |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


_STARTUP = r"""
import sys, time
t0 = time.perf_counter()
from soundtransform import audio, convert
t1 = time.perf_counter()
model = convert.load_model(sys.argv[1], runtime=sys.argv[2])
t2 = time.perf_counter()
y = audio.load(sys.argv[3])
out = model.convert_batch(y[None])[0]
t3 = time.perf_counter()
audio.save(sys.argv[4], out)
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3, "tensorflow" in sys.modules)
"""


def startup(version_dir, fmt, note, work, runs):
    """Median seconds of a fresh process's parts: interpreter, imports, model load, first convert, write."""
    parts = []
    for _ in range(runs):
        t = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", _STARTUP, version_dir, fmt, note, os.path.join(work, "s.wav")],
                                capture_output=True, text=True, check=True, cwd=ROOT)
        total = time.perf_counter() - t
        values = result.stdout.split()
        measured = [float(v) for v in values[:4]]
        parts.append([total - sum(measured)] + measured + [values[4] == "True"])
    return [statistics.median(p[i] for p in parts) for i in range(5)], parts[0][5]


def run_cli_python(code, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return times


if __name__ == "__main__":
    main()
