"""Training speed of cgan and cyclegan at a preset's size, on a real dataset.

Usage::

    nice -n 10 python benchmarks/bench_gan.py --data DATA [--method cgan|cyclegan] [--preset default] [--steps 20]
        [--set key=value ...]

Builds the method exactly as ``soundtransform train`` does (same datasets,
networks, XLA setting), runs ``--steps`` training steps after ``--warmup``
steps (tracing and XLA compilation), and prints seconds per step, steps per
epoch, seconds per epoch and parameter counts.  Writes nothing.
"""

import argparse
import json
import time

import keras

from soundtransform import methods, presets
from soundtransform.train import batch


class _StepTimer(keras.callbacks.Callback):
    def __init__(self, warmup):
        super().__init__()
        self.warmup = warmup
        self.times = []

    def on_train_batch_end(self, step, logs=None):
        self.times.append(time.perf_counter())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--method", default="cgan", choices=("cgan", "cyclegan"))
    parser.add_argument("--preset", default="default")
    parser.add_argument("--source", default="flute")
    parser.add_argument("--target", default="keyboard")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--set", nargs="*", default=[], help="key=value overrides (JSON values)")
    args = parser.parse_args()

    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    module = methods.get(args.method)
    config = presets.resolve(args.method, args.preset, **overrides)
    config["steps_per_epoch"] = args.warmup + args.steps  # repeat the pipeline
    train_ds, _, info = module.make_datasets(args.data, config, source=args.source, target=args.target)
    examples = sum(1 for _ in train_ds.map(lambda *x: 0))
    model = module.build(config, info)
    timer = _StepTimer(args.warmup)
    start = time.perf_counter()
    model.fit(batch(train_ds, config, training=True), epochs=1, steps_per_epoch=args.warmup + args.steps,
              callbacks=[timer], verbose=0)
    per_step = (timer.times[-1] - timer.times[args.warmup - 1]) / args.steps
    steps_per_epoch = examples // config["batch_size"]
    params = {layer.name: layer.count_params() for layer in model.layers if isinstance(layer, keras.Model)}
    print(json.dumps({
        "method": args.method, "preset": args.preset,
        "size": [config["freq_bins"], config["frames"]], "batch_size": config["batch_size"],
        "jit_compile": config["jit_compile"], "overrides": overrides,
        "params": params,
        "warmup_s": round(timer.times[args.warmup - 1] - start, 1),
        "s_per_step": round(per_step, 3), "s_per_example": round(per_step / config["batch_size"], 3),
        "examples_per_epoch": examples, "steps_per_epoch": steps_per_epoch,
        "s_per_epoch": round(per_step * steps_per_epoch, 1),
        "epochs_in_45_min": round(45 * 60 / (per_step * steps_per_epoch), 1),
    }, indent=1))


if __name__ == "__main__":
    main()
