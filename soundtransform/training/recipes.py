"""Recipes: every setting and stage that rebuilds one model, in one TOML file.

A shipped model is often more than one training: a run, a fine-tune of it
(``init_from``), the weighted mean of two runs, then an export with its own
conversion settings.  A recipe (``recipes/NAME.toml``) holds all of it, and

    soundtransform train --recipe recipes/NAME.toml --data DATA

rebuilds the model from a dataset that ``soundtransform data render`` made:
each stage trains into ``RUN_DIR/STAGE`` (``RUN_DIR`` by default
``runs/NAME``) through `soundtransform.train.train`, and the last one is
exported as the next version of ``NAME``.  A finished stage is kept when the
recipe runs again, so an interrupted recipe resumes where it stopped; a stage
folder made with other settings is refused.  Recipes that share stages (the
same name and settings) can share a run folder, which trains them once.

The format::

    name = "cgan_flute_to_keyboard"     # the model exported (default: the file's name)
    description = "..."
    method = "cgan"                      # a name in `methods.METHODS`
    source = "flute"                     # families (not for the classifier)
    target = "keyboard"
    preset = "default"                   # a name in `presets.PRESET_NAMES`

    [data]                               # what the dataset must hold (checked before training)
    notes = ["flute", "keyboard"]        # families of single notes in the train and valid splits, or "all"
    phrases = ["flute", "keyboard"]      # families of phrases (optional) ...
    melodies = 64                        # ... with the generated melodies m0000 to m0063 each

    [settings]                           # every training stage's settings (`presets.resolve` keys)
    train_on = "both"

    [stages.base]                        # a training stage: its settings over [settings]
    epochs = 20

    [stages.tune]
    init_from = "base"                   # a fine-tune: starts from an earlier stage's generator
    learning_rate = 5e-5

    [stages.more]
    resume = "tune"                      # a copy of an earlier stage's run, continued: only
    epochs = 30                          # `train.RESUME_CHANGES` may differ from that stage's settings

    [stages.soup]
    average = { base = 0.5, more = 0.5 } # the weighted mean of earlier stages' generators

    [export]
    stage = "soup"
    generator = "selected"               # a stage's best-judged epoch if it was judged, or "last"
    direction = "forward"                # or "reverse": a CycleGAN's target -> source generator
    phase = "source"                     # and the other `export.EXPORT_SETTINGS`
    input_peak_db = -19.0

A stage's generator, for ``init_from``, ``average`` and the export, is the one
its run exports (`runs.find_run_generator`).  The export's metadata records
the recipe (its name, file and content), the stage exported, the training
configuration with stages in place of run folders, and the instruments of the
source and target families in the train and valid splits; no machine path.
"""

import dataclasses
import json
import os
import re
import shutil
import tomllib

from soundtransform import data, methods, presets
from soundtransform.errors import DataError, ParameterError, check_choice

KEYS = ("name", "description", "method", "source", "target", "preset", "data", "settings", "stages", "export")
DATA_KEYS = ("notes", "phrases", "melodies")
STAGE_KEYS = ("init_from", "resume", "average", "description")  # besides settings
EXPORT_KEYS = ("stage", "generator", "direction", "phase", "n_iter", "overlap", "upper_bins", "input_peak_db")
GENERATORS = ("selected", "last")
DIRECTIONS = ("forward", "reverse")
RUNNER_SETTINGS = ("export_dir",)  # the runner's: each stage exports into its own folder
STAGE_RECORD = "recipe_stage.json"  # in a stage folder: the stage was finished with these settings
EXPORT_RECORD = "recipe_exports.json"  # in the run folder: {recipe name: what it exported}
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage: ``kind`` "train" (from scratch or ``init_from``), "resume" or "average".

    ``settings`` are the training settings `train.train` gets (a resumed
    stage: only those that change), ``start`` the stage it starts from
    (``init_from`` or ``resume``), ``shares`` an average's ``{stage: share}``.
    """

    name: str
    kind: str
    settings: dict
    start: str = None
    shares: dict = None

    def record(self):
        """What a finished stage folder must have been made with (`STAGE_RECORD`)."""
        return json.loads(json.dumps({"stage": self.name, "kind": self.kind, "settings": self.settings,
                                      "start": self.start, "shares": self.shares}))


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A loaded, checked recipe (see the module docstring); ``content`` is the file as a dict."""

    name: str
    file: str
    content: dict
    method: str
    source: str
    target: str
    preset: str
    data: dict
    stages: tuple
    export: dict

    def stage(self, name):
        return next(s for s in self.stages if s.name == name)


def load(path):
    """Read and check the recipe at ``path``.

    Raises
    ------
    ParameterError
        A missing or unreadable file, bad TOML, an unknown key, method,
        setting or stage, a stage that refers to a later one, bad shares or
        export settings; one line that names the recipe.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ParameterError(f"no such recipe: {path}")
    try:
        with open(path, "rb") as f:
            content = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"recipe {path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read recipe {path}: {exc}") from None
    try:
        return _parse(content, path)
    except ParameterError as exc:
        raise ParameterError(f"recipe {path}: {exc}") from None


def _parse(content, path):
    _known(content, KEYS, "key")
    method = content.get("method")
    if method is None:
        raise ParameterError(f"no method; give one of: {', '.join(methods.METHODS)}")
    check_choice("method", method, tuple(methods.METHODS))
    preset = content.get("preset", "default")
    check_choice("preset", preset, presets.PRESET_NAMES)
    source, target = content.get("source"), content.get("target")
    if method == "classifier":
        if source or target:
            raise ParameterError("a classifier learns every family; it takes no source or target")
    else:
        for key, family in (("source", source), ("target", target)):
            if family is None:
                raise ParameterError(f"{method} translates between two families; give {key}")
            check_choice(key, family, data.FAMILIES)
    common = _table(content, "settings")
    _no_runner_settings(common, "[settings]")
    stages = _stages(_table(content, "stages"), common, method, preset)
    export = _export(_table(content, "export"), stages, method)
    name = content.get("name", os.path.splitext(os.path.basename(path))[0])
    return Recipe(name=name, file=_shown(path), content=content, method=method, source=source, target=target,
                  preset=preset, data=_data(_table(content, "data")), stages=tuple(stages), export=export)


def _stages(table, common, method, preset):
    from soundtransform.train import RESUME_CHANGES

    if not table:
        raise ParameterError("no stages; give at least one [stages.NAME] table")
    stages = []
    for name, spec in table.items():
        if not isinstance(spec, dict):
            raise ParameterError(f"stages.{name} must be a table")
        if not _STAGE_NAME.match(name):
            raise ParameterError(f"stage name {name!r} must be lower-case letters, digits, '-' or '_'")
        earlier = [s.name for s in stages]
        refs = [k for k in ("init_from", "resume", "average") if k in spec]
        if len(refs) > 1:
            raise ParameterError(f"stage {name} has {' and '.join(refs)}; give one")
        own = {k: v for k, v in spec.items() if k not in STAGE_KEYS}
        _no_runner_settings(own, f"stage {name}")
        if "average" in spec:
            if own:
                raise ParameterError(f"stage {name} averages; it takes no settings ({', '.join(own)})")
            shares = spec["average"]
            if not isinstance(shares, dict) or len(shares) < 2:
                raise ParameterError(f"stage {name}: average takes a table of two or more stages and their shares")
            for other in shares:
                _earlier(name, other, earlier)
            values = list(shares.values())
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in values):
                raise ParameterError(f"stage {name}: each share of an average must be a number in [0, 1], "
                                     f"not {values}")
            if abs(sum(values) - 1.0) > 1e-6:
                raise ParameterError(f"stage {name}: the shares of an average must sum to 1, not {sum(values):g}")
            stages.append(Stage(name, "average", {}, shares=dict(shares)))
            continue
        if "resume" in spec:
            start = _earlier(name, spec["resume"], earlier)
            resumed = next(s for s in stages if s.name == start)
            if resumed.kind == "average":
                raise ParameterError(f"stage {name} resumes stage {start}, an average; only a training resumes")
            changed = [k for k in own if k not in RESUME_CHANGES]
            if changed:
                raise ParameterError(f"stage {name} resumes stage {start}; a resumed run may change only "
                                     f"{', '.join(RESUME_CHANGES)}, not {', '.join(changed)}")
            full = {**_full_settings(stages, resumed), **own}
            _resolve(method, preset, full, name)
            stages.append(Stage(name, "resume", own, start=start))
            continue
        start = _earlier(name, spec["init_from"], earlier) if "init_from" in spec else None
        settings = {**common, **own}
        _resolve(method, preset, settings, name)
        stages.append(Stage(name, "train", settings, start=start))
    return stages


def _full_settings(stages, stage):
    """A training stage's settings, a resumed stage's with those of the stage it continues."""
    if stage.kind != "resume":
        return stage.settings
    return {**_full_settings(stages, next(s for s in stages if s.name == stage.start)), **stage.settings}


def _resolve(method, preset, settings, stage):
    try:
        return presets.resolve(method, preset, **settings)
    except ParameterError as exc:
        raise ParameterError(f"stage {stage}: {exc}") from None


def _earlier(stage, other, earlier):
    if not isinstance(other, str) or other not in earlier:
        known = ", ".join(earlier) or "none"
        raise ParameterError(f"stage {stage} starts from unknown stage {other!r}; the stages before it: {known}")
    return other


def _export(table, stages, method):
    from soundtransform import pipeline

    _known(table, ("stage",) if method == "classifier" else EXPORT_KEYS, "export key")
    names = [s.name for s in stages]
    stage = table.get("stage")
    if stage not in names:
        raise ParameterError(f"export: unknown stage {stage!r}; the stages: {', '.join(names)}")
    check_choice("export generator", table.setdefault("generator", "selected"), GENERATORS)
    check_choice("export direction", table.setdefault("direction", "forward"), DIRECTIONS)
    if table["direction"] == "reverse" and method != "cyclegan":
        raise ParameterError("export direction 'reverse' is a CycleGAN's second generator; a "
                             f"{method} has one")
    if table["generator"] == "last" and next(s for s in stages if s.name == stage).kind == "average":
        raise ParameterError(f"export generator 'last' is a training's last epoch; stage {stage} is an average")
    if "phase" in table:
        check_choice("export phase", table["phase"], pipeline.PHASES)
    if "upper_bins" in table:
        check_choice("export upper_bins", table["upper_bins"], pipeline.UPPER_BINS)
    if "input_peak_db" in table:
        table["input_peak_db"] = pipeline.check_input_peak_db(table["input_peak_db"])
    for key in ("n_iter", "overlap"):
        if key in table and (not isinstance(table[key], int) or isinstance(table[key], bool) or table[key] < 0):
            raise ParameterError(f"export {key} must be a whole number, 0 or more, not {table[key]!r}")
    return table


def _data(table):
    _known(table, DATA_KEYS, "data key")
    notes = table.get("notes", [])
    notes = list(data.FAMILIES) if notes == "all" else notes
    phrases = table.get("phrases", [])
    if not isinstance(notes, list) or not isinstance(phrases, list):
        raise ParameterError('data notes and phrases must be lists of families (notes may be "all")')
    for family in [*notes, *phrases]:
        check_choice("data family", family, data.FAMILIES)
    melodies = table.get("melodies")
    if phrases and (not isinstance(melodies, int) or isinstance(melodies, bool) or melodies < 1):
        raise ParameterError(f"data melodies must be a whole number, 1 or more, with phrases; not {melodies!r}")
    return {"notes": list(notes), "phrases": list(phrases), "melodies": melodies if phrases else None}


def _table(content, key):
    value = content.get(key, {})
    if not isinstance(value, dict):
        raise ParameterError(f"{key} must be a table ([{key}])")
    return dict(value)


def _known(table, allowed, what):
    for key in table:
        if key not in allowed:
            raise ParameterError(f"unknown {what} {key!r}; the {what}s are: {', '.join(allowed)}")


def _no_runner_settings(settings, where):
    for key in RUNNER_SETTINGS:
        if key in settings:
            raise ParameterError(f"{where} sets {key}; the recipe's runner chooses it (each stage's own folder)")


def _shown(path):
    """``path`` relative to the working folder, or its file name when it lies outside it."""
    relative = os.path.relpath(os.path.abspath(path))
    return os.path.basename(path) if relative.startswith(os.pardir) else relative


# --------------------------------------------------------------------------- data


def render_commands(recipe, data_dir):
    """The ``soundtransform data render`` commands that make what ``recipe.data`` asks for."""
    commands = []
    notes, phrases = recipe.data["notes"], recipe.data["phrases"]
    if notes:
        chosen = "" if set(notes) == set(data.FAMILIES) else f" --families {','.join(notes)}"
        commands.append(f"soundtransform data render --out {data_dir}{chosen}")
    if phrases:
        commands.append(f"soundtransform data render --out {data_dir} --kind phrases "
                        f"--melodies {recipe.data['melodies']} --families {','.join(phrases)}")
    return commands


def check_data(recipe, data_dir):
    """Check that ``data_dir`` holds what ``recipe.data`` asks for.

    Returns
    -------
    list of str
        Notes on data beyond the recipe's (more melodies than it was made
        with, which then train too).

    Raises
    ------
    DataError
        A family's notes missing from the train or valid split, or phrases
        without every melody; the message gives the render command.
    """
    from soundtransform import phrases

    if not os.path.isdir(data_dir):
        raise DataError(f"dataset folder {data_dir} does not exist; render one with `soundtransform data render`")
    commands = render_commands(recipe, data_dir)
    for split in ("train", "valid"):
        have = {n.family for n in data.read_split(data_dir, split)}
        missing = [f for f in recipe.data["notes"] if f not in have]
        if missing:
            raise DataError(f"{data_dir} has no {', '.join(missing)} notes in split {split!r}; recipe "
                            f"{recipe.name} needs them: render them with `{commands[0]}`")
    notes = []
    wanted = {f"m{k:04d}" for k in range(recipe.data["melodies"] or 0)}
    for family in recipe.data["phrases"]:
        have = {p.melody for p in phrases.read_phrases(data_dir, "train", [family])}
        if not wanted <= have:
            raise DataError(f"{data_dir} has {len(wanted & have)} of the {len(wanted)} melodies of {family} phrases "
                            f"recipe {recipe.name} needs: render them with `{commands[-1]}`")
        if have - wanted:
            notes.append(f"note: {data_dir} has {len(have)} melodies of {family} phrases; recipe {recipe.name} "
                         f"was made with {len(wanted)}, and all of them train")
    return notes


def instruments(recipe, data_dir):
    """``{split: {family: [instrument names]}}`` of the train and valid splits, notes and phrases together,
    for the recipe's source and target families (a classifier's: its data families)."""
    from soundtransform import phrases

    families = [recipe.source, recipe.target] if recipe.source else recipe.data["notes"]
    out = {}
    for split in ("train", "valid"):
        sounds = data.read_split(data_dir, split) + phrases.read_phrases(data_dir, split)
        out[split] = {f: sorted({s.instrument_str for s in sounds if s.family == f}) for f in families}
    return out


# --------------------------------------------------------------------------- running


def run(recipe, data_dir, run_dir=None, models_dir=None, strategy="default", progress=True, log=print):
    """Rebuild the model of ``recipe`` (a `Recipe` or a path) from the dataset at ``data_dir``.

    Parameters
    ----------
    recipe : Recipe or str
    data_dir : str
        An NSynth-layout dataset holding what the recipe's ``[data]`` asks for.
    run_dir : str, optional
        Stage folders ``RUN_DIR/STAGE``; default ``runs/NAME``.
    models_dir : str, optional
        Where the model is exported; default `registry.models_dir`.
    strategy : str
        `train.train`'s ``tf.distribute`` strategy.
    progress : bool
        Keras' progress bar.
    log : callable
        Called with one line per stage (and per note on the data).

    Returns
    -------
    dict with ``run_dir``, ``stages`` (``{name: folder}``) and ``export`` (the version folder).
    """
    if not isinstance(recipe, Recipe):
        recipe = load(recipe)
    for note in check_data(recipe, data_dir):
        log(note)
    run_dir = os.path.abspath(run_dir or os.path.join("runs", recipe.name))
    folders = {s.name: os.path.join(run_dir, s.name) for s in recipe.stages}
    for number, stage in enumerate(recipe.stages, 1):
        head = f"stage {number}/{len(recipe.stages)} {stage.name}"
        folder = folders[stage.name]
        done = _read_json(os.path.join(folder, STAGE_RECORD))
        if done is not None:
            if done != stage.record():
                changed = sorted(k for k in stage.record() if done.get(k) != stage.record()[k])
                raise ParameterError(f"{folder} holds stage {stage.name} made with other {', '.join(changed)}; "
                                     "use another run folder")
            log(f"{head}: finished before, kept")
            continue
        log(f"{head}: {_describe(recipe, stage)}")
        if stage.kind == "average":
            _average(stage, folders, folder)
        else:
            _train(recipe, stage, folders, folder, data_dir, strategy, progress)
        _write_json(os.path.join(folder, STAGE_RECORD), stage.record())
    version_dir = _export_once(recipe, folders, run_dir, data_dir, models_dir, log)
    return {"run_dir": run_dir, "stages": folders, "export": version_dir}


def _describe(recipe, stage):
    if stage.kind == "average":
        return "the mean of " + ", ".join(f"{k} ({v:g})" for k, v in stage.shares.items())
    if stage.kind == "resume":
        changes = ", ".join(f"{k}={v}" for k, v in stage.settings.items() if k != "epochs")
        return f"stage {stage.start} continued to {stage.settings.get('epochs', 'its')} epochs" + (
            f" with {changes}" if changes else "")
    epochs = stage.settings.get("epochs", presets.resolve(recipe.method, recipe.preset)["epochs"])
    start = f", from stage {stage.start}" if stage.start else ""
    return f"{recipe.method}, {epochs} epochs{start}"


def _train(recipe, stage, folders, folder, data_dir, strategy, progress):
    from soundtransform.train import train

    settings = dict(stage.settings)
    if stage.kind == "resume":
        if not os.path.isfile(os.path.join(folder, "config.json")):
            _copy_run(folders[stage.start], folder)
    elif stage.start:
        settings["init_from"] = folders[stage.start]
    if "export_dir" in presets.resolve(recipe.method, recipe.preset):  # a generator's own export, kept aside
        settings["export_dir"] = os.path.join(folder, "export")
    train(recipe.method, data_dir, run_dir=folder, preset=recipe.preset, source=recipe.source,
          target=recipe.target, progress=progress, strategy=strategy, **settings)


def _copy_run(source, folder):
    """Copy a finished stage's run (not its record or export) to ``folder``, whole or not at all."""
    partial = folder + ".part"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial, ignore=lambda _, names: [n for n in names if n in (STAGE_RECORD, "export")])
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)


def _average(stage, folders, folder):
    from soundtransform.training import average, runs

    names = list(stage.shares)
    generator = average.average_generators([folders[n] for n in names], [stage.shares[n] for n in names])
    os.makedirs(folder, exist_ok=True)
    runs.save_generator(generator, os.path.join(folder, runs.GENERATOR_FILE))
    first = runs.read_run_info(folders[names[0]])
    info = {k: first[k] for k in ("config", "source", "target", "data") if k in first}
    _write_json(os.path.join(folder, "config.json"), {**info, "averaged_from": dict(stage.shares)})


def _export_once(recipe, folders, run_dir, data_dir, models_dir, log):
    record = os.path.join(run_dir, EXPORT_RECORD)
    done = _read_json(record) or {}
    if os.path.exists(done.get(recipe.name, "")):
        log(f"export: exported before, kept: {done[recipe.name]}")
        return done[recipe.name]
    stage = recipe.stage(recipe.export["stage"])
    folder = folders[stage.name]
    metadata = export_metadata(recipe, stage, folders, data_dir)
    if recipe.method == "classifier":
        exported = _export_classifier(recipe, folder, models_dir, metadata)
    else:
        from soundtransform import export

        options = {k: recipe.export[k] for k in export.EXPORT_SETTINGS if k in recipe.export}
        exported = export.export_run(_generator_path(recipe, stage, folder), name=recipe.name,
                                     base_dir=models_dir, metadata=metadata, **options)
    _write_json(record, {**done, recipe.name: exported})
    log(f"export: {exported}")
    return exported


def _generator_path(recipe, stage, folder):
    """The generator file of ``folder`` that ``recipe.export`` names (direction, selected or last epoch)."""
    from soundtransform.training import runs

    if stage.kind == "average":
        return folder
    selected, run = runs.find_run_generator(folder)
    name = os.path.basename(selected)
    if recipe.export["direction"] == "reverse":
        name = f"generator_{recipe.target}_to_{recipe.source}.keras"
        if run.get("config", {}).get("select_by") == "judge" and os.path.isfile(
                os.path.join(folder, runs.best_file(name))):
            name = runs.best_file(name)
    if recipe.export["generator"] == "last":
        name = name.replace("_best.keras", ".keras")
    return os.path.join(folder, name)


def _export_classifier(recipe, folder, models_dir, metadata):
    """Copy a classifier stage's ``classifier.keras`` to ``MODELS_DIR/classifiers/NAME.keras``, with NAME.json."""
    from soundtransform import registry
    from soundtransform.fileio import atomic_path

    target = os.path.join(models_dir or registry.models_dir(), "classifiers", f"{recipe.name}.keras")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with atomic_path(target, suffix=".keras") as tmp:
        shutil.copyfile(os.path.join(folder, "classifier.keras"), tmp)
    summary = _read_json(os.path.join(folder, "classifier.json")) or {}
    _write_json(target[:-len(".keras")] + ".json",
                {"role": recipe.name, **{k: v for k, v in summary.items() if k != "config"}, **metadata})
    return target


def export_metadata(recipe, stage, folders, data_dir):
    """What an export of ``recipe`` records: the recipe, its stage, the configuration and data, no machine path.

    Run folders become stage names (``init_from``, ``averaged_from``); paths
    into the dataset become file names; the dataset's own path is left out.
    """
    from soundtransform.training import runs

    stage_of = {os.path.normpath(path): name for name, path in folders.items()}
    run = runs.read_run_info(folders[stage.name])
    metadata = {"recipe": {"name": recipe.name, "file": recipe.file, "stage": stage.name,
                           "content": json.loads(json.dumps(recipe.content))}}
    config = dict(run.get("config", {}))
    if config:
        config.pop("export_dir", None)
        if config.get("init_from"):
            config["init_from"] = stage_of.get(os.path.normpath(config["init_from"]), "another run")
        if "changes" in config:
            config["changes"] = [c for c in config["changes"] if c.get("key") != "export_dir"]
        metadata["config"] = config
    training_data = {k: v for k, v in run.get("data", {}).items() if k not in ("root", "init_from_file")}
    training_data = _file_names(training_data)
    training_data["instruments"] = instruments(recipe, data_dir)
    metadata["training_data"] = training_data
    if run.get("averaged_from"):
        metadata["averaged_from"] = run["averaged_from"]
    return metadata


def _file_names(value):
    """``value`` with every absolute path in it replaced by its file name."""
    if isinstance(value, dict):
        return {k: _file_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_file_names(v) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        return os.path.basename(value)
    return value


def _read_json(path):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _write_json(path, value):
    from soundtransform.fileio import write_text

    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text(path, json.dumps(value, indent=1, default=str))
