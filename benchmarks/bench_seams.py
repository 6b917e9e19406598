"""Seams at window joins: a long phrase through an exported model, window by window.

Run from the repository root::

    python benchmarks/bench_seams.py [--model cgan_flute_to_keyboard] [--generator RUN_DIR_OR_KERAS]
                                     [--seconds 30] [--melodies 2] [--family flute]

A model sees ``frames`` frames at a time; a longer input is cut into windows
``frames - overlap`` apart whose outputs are cross-faded (`pipeline._windowed`).
Test-split phrases (instruments never seen in training) of ``--seconds`` are
rendered into a temporary folder and converted.  Figures:

1. window disagreement: mean absolute difference (dB) between two neighbouring
   windows' outputs over the frames both cover, i.e. what the cross-fade has
   to blend;
2. seam flux: the spectral flux of the output audio (re-analysed; per frame
   ``sqrt(mean_f (dB_t - dB_{t-1})^2)`` over the model's rows, frames where
   the input is not silent) in the joins (the cross-fade frames, +-2),
   divided by the flux elsewhere.  1.0 = the joins change no faster than the
   rest of the music; the input's own ratio over the same frames is printed as
   the reference;
3. with ``--generator`` (the shipped model's training run), the same generator
   wrapped with ``overlap=0`` (hard cuts between windows), to show what a seam
   looks like in these figures.

Prints them as a Markdown table, one row a model, then as JSON.
"""

import argparse
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from soundtransform import audio, convert, phrases  # noqa: E402
from soundtransform.plot import image_to_db  # noqa: E402


def join_frames(total, frames, overlap, margin=2):
    """Boolean mask ``[total]`` of the frames in a cross-fade (or at a hard cut), +- ``margin``."""
    hop = frames - overlap
    mask = np.zeros(total, bool)
    for start in range(hop, total, hop):
        mask[max(0, start - margin):min(total, start + overlap + margin)] = True
    return mask


def flux(y, rows):
    """Spectral flux per frame of a waveform, dB, and a mask of its non-silent frames."""
    db = image_to_db(audio.waveform_to_image(np.pad(y, [0, audio.HOP_LENGTH]), rows)[0].numpy())
    f = np.sqrt(np.mean(np.diff(db, axis=1) ** 2, axis=0))
    loud = db.max(axis=0)[1:] > -60.0
    return np.concatenate([[0.0], f]), np.concatenate([[False], loud])


def measure(converter, waveforms):
    md = converter.metadata
    rows, frames, overlap = int(md["freq_bins"]), int(md["frames"]), int(md["overlap"])
    hop = frames - overlap
    disagreement, ratios_out, ratios_in = [], [], []
    for y in waveforms:
        image = audio.waveform_to_image(np.pad(y, [0, audio.HOP_LENGTH]), rows)[0].numpy()[..., 0]
        T = image.shape[1]
        n = 1 + -(-max(T - frames, 0) // hop)
        padded = np.pad(image, [(0, 0), (0, (n - 1) * hop + frames - T)], constant_values=-1.0)
        if overlap:
            alone = converter.transform_images(
                np.stack([padded[:, k * hop:k * hop + frames, None] for k in range(n)]))[..., 0]
            for k in range(n - 1):
                a, b = image_to_db(alone[k][:, -overlap:]), image_to_db(alone[k + 1][:, :overlap])
                disagreement.append(float(np.mean(np.abs(a - b))))
        out = converter.convert(y)
        mask = join_frames(T, frames, overlap)
        for wave, ratios in ((out, ratios_out), (y, ratios_in)):
            f, loud = flux(wave, rows)
            f, loud = f[:T], loud[:T]
            ratios.append(float(np.mean(f[mask & loud]) / np.mean(f[~mask & loud])))
    return {
        "overlap_frames": overlap,
        "joins": int(sum(1 + -(-max(len(y) // audio.HOP_LENGTH - frames, 0) // hop) - 1 for y in waveforms)),
        "window_disagreement_db": float(np.mean(disagreement)) if disagreement else None,
        "seam_flux_ratio_output": float(np.mean(ratios_out)),
        "seam_flux_ratio_input": float(np.mean(ratios_in)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cgan_flute_to_keyboard")
    parser.add_argument("--generator", default=None, help="The model's training run or .keras, for overlap=0.")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--melodies", type=int, default=2)
    parser.add_argument("--family", default="flute")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        phrases.render_phrases(tmp, melodies=args.melodies, families=[args.family], seconds=args.seconds,
                               progress=False)
        test = phrases.read_phrases(tmp, "test")
        waveforms = [audio.load(p.path) for p in test]
    print(f"{len(waveforms)} test-split {args.family} phrases of {args.seconds:g} s "
          f"({len({p.instrument_str for p in test})} instruments)")
    results = {}
    shipped = convert.load_model(args.model)
    results[f"{shipped.name} (overlap {shipped.metadata['overlap']})"] = measure(shipped, waveforms)
    if args.generator:
        hard = convert.load_model(args.generator, overlap=0, phase=shipped.metadata["phase"],
                                  n_iter=shipped.metadata.get("n_iter", 32),
                                  upper_bins=shipped.metadata.get("upper_bins"))
        results["same generator, overlap 0 (hard cuts)"] = measure(hard, waveforms)
    print("| model | joins | window disagreement (dB) | seam flux ratio, output | same frames, input |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in results.items():
        d = "n/a" if r["window_disagreement_db"] is None else f"{r['window_disagreement_db']:.2f}"
        print(f"| {name} | {r['joins']} | {d} | {r['seam_flux_ratio_output']:.2f} | "
              f"{r['seam_flux_ratio_input']:.2f} |")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
