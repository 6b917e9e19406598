"""What an export of a training run records about it: metadata without machine paths.

A run folder's own ``config.json`` keeps the paths it was started with (its
data folder, the generator it started from), for resuming on the same
machine.  An export travels: its metadata names the data by family,
instrument and count, files by their names, and paths given relative to the
working folder as they were given.
"""

import os

from soundtransform.training import runs

PATH_SETTINGS = ("init_from", "classifier", "judge")  # settings that may name a file or folder


def portable_path(path):
    """``path`` without the machine's folders: as given when relative, relative to the working folder when
    inside it, else its last two parts (an export's ``NAME/VERSION``, a run's ``RUN/generator.keras``)."""
    path = os.fspath(path)
    if not os.path.isabs(path):
        return path
    relative = os.path.relpath(path, os.getcwd())
    if not relative.startswith(os.pardir):
        return relative
    return os.path.join(*os.path.normpath(path).split(os.sep)[-2:])


def training_data(info):
    """The data description of a method's ``make_datasets`` as an export records it.

    Families, instruments and counts stay; the data folder (``root``) goes;
    Faster's style note files become their count (``style_notes``); the
    generators a fine-tune started from keep their `portable_path`.
    """
    out = {k: v for k, v in info.items() if k not in ("root", "style_paths", "init_from_file")}
    if "style_paths" in info:
        out["style_notes"] = len(info["style_paths"])
    start = info.get("init_from_file")
    if start:
        out["init_from_file"] = ([portable_path(p) for p in start] if isinstance(start, (list, tuple))
                                 else portable_path(start))
    return out


def recorded_config(config):
    """``config`` as an export records it: without ``export_dir``, paths as `portable_path` gives them."""
    out = {k: v for k, v in config.items() if k != "export_dir"}
    for key in PATH_SETTINGS:
        if isinstance(out.get(key), (str, os.PathLike)):
            out[key] = portable_path(out[key])
    return out


def export_metadata(config, info, run_dir, source, target, generator_file):
    """The metadata a method's export carries: method, preset, direction, image size, data, last metrics,
    the generator's file name in the run folder and the configuration."""
    return {
        "method": config["method"],
        "preset": config["preset"],
        "source": source,
        "target": target,
        "freq_bins": config["freq_bins"],
        "frames": config["frames"],
        "training_data": training_data(info),
        "metrics": runs.read_metrics(run_dir),
        "generator_file": os.path.basename(generator_file),
        "config": recorded_config(config),
    }
