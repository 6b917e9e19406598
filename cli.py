"""soundtransform's command line: parses arguments and calls the library.

No logic lives here.  Errors the library raises on purpose become a one-line
``Error: ...`` with exit status 1 (bad data) or 2 (bad usage); anything else is
reported in one line too, with the traceback kept for ``SOUNDTRANSFORM_DEBUG=1``.
"""

import os
import sys

import click

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _int_list(text):
    """Parse ``"48-84"`` or ``"60,64,67"`` or a mix into a list of ints."""
    from soundtransform.errors import ParameterError

    values = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                values.extend(range(lo, hi + 1))
            elif part:
                values.append(int(part))
        except ValueError:
            raise ParameterError(f"cannot read {text!r} as numbers (e.g. 48-84 or 60,64,67)") from None
    if not values:
        raise ParameterError(f"{text!r} names no numbers")
    return values


def _str_list(text):
    return [s.strip() for s in str(text).split(",") if s.strip()]


def _as_given_here(exc):
    """The library's message, naming the families and settings it asks for as this command line takes them."""
    from soundtransform.errors import MissingFamilies

    if isinstance(exc, MissingFamilies):
        return f"{exc.method} translates between two families: give --source and --target (e.g. flute, keyboard)"
    message, setting = str(exc), getattr(exc, "setting", None)
    if setting and message.endswith(setting):
        return f"{message[:-len(setting)]}--set {setting}"
    return message


class _Group(click.Group):
    """The root group: turns the library's errors into one line and an exit status."""

    def invoke(self, ctx):
        from soundtransform.errors import SoundTransformError

        try:
            return super().invoke(ctx)
        except SoundTransformError as exc:
            click.echo(f"Error: {_as_given_here(exc)}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted; finished outputs were kept, nothing half-written.", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except OSError as exc:
            if os.environ.get("SOUNDTRANSFORM_DEBUG"):
                raise
            click.echo(f"Error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
            sys.exit(1)
        except Exception as exc:  # a bug: still one line, the traceback on request
            if os.environ.get("SOUNDTRANSFORM_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0]
            click.echo(
                f"Error: internal error ({type(exc).__name__}: {first[:300]}); "
                "rerun with SOUNDTRANSFORM_DEBUG=1 for the traceback",
                err=True,
            )
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="soundtransform")
def cli():
    """Transform the sound of one instrument into another (flute <-> keyboard)
    by style transfer on spectrogram images."""


# ------------------------------------------------------------------- data


@cli.group()
def data():
    """Build and inspect NSynth-layout datasets."""


@data.command("render")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Dataset folder to create or complete.")
@click.option("--soundfont", "soundfonts", default="FluidR3_GM,TimGM6mb", show_default=True,
              help="Comma-separated SoundFont names (FluidR3_GM, TimGM6mb) or .sf2 paths.")
@click.option("--families", default=None, help="Comma-separated NSynth families [default: all].")
@click.option("--pitches", default="48-84", show_default=True, help="MIDI pitches, e.g. 48-84 or 60,64,67.")
@click.option("--velocities", default="50,100", show_default=True, help="MIDI velocities.")
@click.option("--valid-fraction", default=0.15, show_default=True, type=click.FloatRange(0, 0.5))
@click.option("--test-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 0.5))
@click.option("--seed", default=0, show_default=True, help="Seed of the instrument split (and of melodies).")
@click.option("--kind", type=click.Choice(["notes", "phrases", "both"]), default="notes", show_default=True,
              help="Single NSynth notes, melodies (phrases), or both.")
@click.option("--melodies", default=16, show_default=True, type=click.IntRange(min=1),
              help="Generated melodies per instrument (phrases, when no --midi is given).")
@click.option("--midi", "midi_files", multiple=True, type=click.Path(),
              help="MIDI file whose top voice is cut into phrases (repeatable).")
@click.option("--phrase-seconds", default=8.0, show_default=True, type=float, help="Length of each phrase.")
def data_render(out_dir, soundfonts, families, pitches, velocities, valid_fraction, test_fraction, seed,
                kind, melodies, midi_files, phrase_seconds):
    """Render real sampled instruments from SoundFonts into NSynth's layout.

    Instruments (not notes) are split into train/valid/test.  An interrupted
    render resumes: notes already on disk are kept.  Phrases render the same
    melodies with every instrument, with their notes in a JSON beside each file.
    """
    from soundtransform.render import render_dataset

    if kind in ("phrases", "both"):
        from soundtransform.phrases import render_phrases

        report = render_phrases(
            out_dir, melodies=melodies, midi_files=midi_files, soundfonts=_str_list(soundfonts),
            families=_str_list(families) if families else None, seconds=phrase_seconds,
            valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed,
        )
        click.echo(
            f"{report['phrases']} phrases of {report['melodies']} melodies in {out_dir}; "
            f"{report['seconds']:.1f} s, {report['realtime_factor']:.0f}x real time"
        )
        if kind == "phrases":
            return
    report = render_dataset(
        out_dir,
        soundfonts=_str_list(soundfonts),
        families=_str_list(families) if families else None,
        pitches=_int_list(pitches),
        velocities=_int_list(velocities),
        valid_fraction=valid_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    splits = ", ".join(f"{k} {v}" for k, v in report["per_split"].items())
    click.echo(
        f"{report['notes']} notes in {out_dir} ({splits}); {report['skipped_silent']} silent notes skipped; "
        f"{report['seconds']:.1f} s, {report['realtime_factor']:.0f}x real time"
    )


@data.command("info")
@click.argument("root", type=click.Path())
def data_info(root):
    """Count the notes of a dataset by split and family."""
    from soundtransform.data import SPLITS, read_split

    from collections import Counter

    for split in SPLITS:
        notes = read_split(root, split)
        if not notes:
            continue
        families = Counter(n.family for n in notes)
        instruments = len({n.instrument_str for n in notes})
        click.echo(
            f"{split}: {len(notes)} notes, {instruments} instruments; "
            + ", ".join(f"{f} {c}" for f, c in sorted(families.items()))
        )


# ------------------------------------------------------------------ train


def _parse_settings(items):
    """``key=value`` pairs; values are read as JSON where they parse (numbers, null)."""
    import json

    from soundtransform.errors import ParameterError

    settings = {}
    for item in items:
        if "=" not in item:
            raise ParameterError(f"--set takes key=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            settings[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            settings[key.strip().replace("-", "_")] = value
    return settings


@cli.command()
@click.option("--method", default=None, help="classifier, faster, cgan or cyclegan (Slow has nothing to train).")
@click.option("--recipe", default=None, type=click.Path(dir_okay=False),
              help="Or a recipe (recipes/NAME.toml): every setting and stage of one model, trained and exported.")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="NSynth-layout dataset folder.")
@click.option("--source", default=None, help="Source family (translation methods), e.g. flute.")
@click.option("--target", default=None, help="Target family (translation methods), e.g. keyboard.")
@click.option("--preset", default="default", show_default=True, help="tiny, default or paper.")
@click.option("--run-dir", default=None, type=click.Path(file_okay=False),
              help="Checkpoints, logs, artifacts [default: runs/METHOD-SOURCE-TARGET, a recipe's runs/NAME]; "
                   "rerun to resume.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the preset's epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Override the preset's batch size.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Override any preset setting.")
@click.option("--strategy", default="default", show_default=True,
              help="tf.distribute strategy: default, mirrored (local devices) or multi-worker (TF_CONFIG).")
@click.option("--models-dir", default=None, type=click.Path(file_okay=False),
              help="Export folder [default: $SOUNDTRANSFORM_MODELS or exported_models/].")
def train(method, recipe, data_dir, source, target, preset, run_dir, epochs, batch_size, settings, strategy,
          models_dir):
    """Train a method through Model.fit, with checkpoints and TensorBoard logs.

    An interrupted run resumes from its last finished epoch when the same
    command is run again.  With --recipe, every stage of the recipe runs in
    turn into RUN_DIR/STAGE and the model is exported; a rerun keeps the
    finished stages.
    """
    from soundtransform.errors import ParameterError

    if recipe is not None:
        ctx = click.get_current_context()
        given = [f"--{name.replace('_', '-')}" for name in ("method", "source", "target", "preset", "epochs",
                                                           "batch_size", "settings")
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if "--method" in given:
            raise ParameterError("--recipe and --method are mutually exclusive: a recipe names its method")
        if given:
            flags = ", ".join(flag.replace("--settings", "--set") for flag in given)
            raise ParameterError(f"{flags} cannot be used with --recipe: a recipe holds every setting; "
                                 "edit a copy of the recipe instead")
        from soundtransform.training import recipes

        result = recipes.run(recipe, data_dir, run_dir=run_dir, models_dir=models_dir, strategy=strategy,
                             log=click.echo)
        click.echo(f"run_dir: {result['run_dir']}")
        click.echo(f"export: {result['export']}")
        return
    if method is None:
        raise click.MissingParameter(ctx=click.get_current_context(), param_hint="'--method' (or '--recipe')",
                                     param_type="option")
    from soundtransform.train import train as run

    overrides = _parse_settings(settings)
    if models_dir is not None:
        if overrides.get("export_dir") is not None:
            raise ParameterError("--models-dir and --set export_dir name the same folder; give one")
        overrides["export_dir"] = models_dir
    result = run(method, data_dir, run_dir=run_dir, preset=preset, source=source, target=target,
                 strategy=strategy, epochs=epochs, batch_size=batch_size, **overrides)
    for key, value in result.items():
        if key not in ("history", "model"):
            click.echo(f"{key}: {value}")


# ------------------------------------------------------------ spectrogram


@cli.command()
@click.argument("audio_in", metavar="IN", type=click.Path())
@click.argument("png_out", metavar="OUT.png", type=click.Path())
def spectrogram(audio_in, png_out):
    """Draw a labelled log-spectrogram picture of an audio file."""
    from soundtransform import audio, plot
    from soundtransform.errors import ParameterError
    from soundtransform.fileio import check_output_path

    if not png_out.lower().endswith(".png"):
        raise ParameterError(f"output {png_out} must end in .png")
    check_output_path(png_out)
    y = audio.load(audio_in, require_sound=True)
    plot.save_waveform_spectrogram(png_out, y, title=os.path.basename(audio_in))
    click.echo(f"wrote {png_out}")


# --------------------------------------------------------- classify, evaluate


@cli.command()
@click.argument("paths", metavar="FILE_OR_DIR...", nargs=-1, required=True, type=click.Path())
@click.option("--classifier", default=None, type=click.Path(),
              help="A .keras classifier [default: exported_models/classifiers/judge.keras].")
@click.option("--top", default=3, show_default=True, type=click.IntRange(1, 11), help="Families shown per file.")
def classify(paths, classifier, top):
    """Print each audio file's most likely instrument families."""
    from soundtransform import evaluate

    files, probabilities = evaluate.classify_files(paths, classifier, progress=True)
    for path, probs in zip(files, probabilities):
        click.echo(f"{path}: " + ", ".join(f"{f} {p:.2f}" for f, p in evaluate.top_families(probs, top)))


@cli.command("evaluate")
@click.argument("generated_dir", metavar="GENERATED_DIR", type=click.Path())
@click.option("--inputs", "input_dir", required=True, type=click.Path(),
              help="Folder of the source sounds, matched to the generated ones by file name.")
@click.option("--source", required=True, help="Source family, e.g. flute.")
@click.option("--target", required=True, help="Target family, e.g. keyboard.")
@click.option("--data", "data_dir", default=None, type=click.Path(), help="NSynth-layout dataset of natural notes.")
@click.option("--split", default="test", show_default=True, help="Split of --data whose target notes are used.")
@click.option("--target-dir", default=None, type=click.Path(), help="Or: a folder of natural target notes.")
@click.option("--judge", default=None, type=click.Path(),
              help="Judge classifier [default: exported_models/classifiers/judge.keras].")
@click.option("--phrase-judge", default=None, type=click.Path(),
              help="Judge of phrase windows [default: exported_models/classifiers/phrase_judge.keras, "
                   "or --judge if given].")
@click.option("--detect-notes", is_flag=True,
              help="Judge inputs without a phrase JSON as phrases too, note by note, with the notes found "
                   "in each input (onsets and pYIN pitch): for your own recordings.")
@click.option("--degrade", default=None, type=click.Choice(["room-noise"]),
              help="Also put each input in a small room with a noise floor 30-40 dB below its peak, convert it "
                   "with --model and report those outputs' figures beside the clean ones.")
@click.option("--model", default=None, help="With --degrade: the model that made GENERATED_DIR (a name or folder).")
@click.option("--by-note/--whole", "by_note", default=True, show_default=True,
              help="With --degrade: convert as `convert` does, note by note, or each clip whole.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Folder for report.json, report.md, tsne.png.")
def evaluate_command(generated_dir, input_dir, source, target, data_dir, split, target_dir, judge, phrase_judge,
                     detect_notes, degrade, model, by_note, out_dir):
    """Judge generated sounds: classifier consistency, naturalness, pitch, attack and decay, melodies."""
    from soundtransform import evaluate

    report = evaluate.evaluate(generated_dir, input_dir, source, target, out_dir, data_dir=data_dir, split=split,
                               target_dir=target_dir, judge=judge, phrase_judge=phrase_judge,
                               detect_notes=detect_notes, degrade=degrade, model=model, by_note=by_note)
    click.echo(evaluate.markdown(report))
    click.echo(f"wrote {os.path.join(out_dir, 'report.json')}, report.md, tsne.png")


# ------------------------------------------------- export, convert, models


@cli.command("export")
@click.argument("run", metavar="RUN_DIR_OR_CHECKPOINT", type=click.Path())
@click.option("--name", default=None,
              help="Model name [default: METHOD_SOURCE_to_TARGET from the run; an exported version's own name].")
@click.option("--phase", default=None, help="Inversion: source or griffin-lim [default: source].")
@click.option("--griffin-lim-iters", "n_iter", default=None, type=click.IntRange(min=0), help="[default: 32]")
@click.option("--overlap", default=None, type=click.IntRange(min=0), help="Window overlap in frames [default: frames/4].")
@click.option("--upper-bins", default=None,
              help="Rows above the model's freq_bins: silent or source (the input's own) [default: silent].")
@click.option("--input-peak-db", default=None, metavar="DB|none",
              help="Level matching: each input's peak is moved to DB dBFS for conversion and back after; "
                   "none converts inputs as they are [default: -19].")
@click.option("--models-dir", default=None, type=click.Path(file_okay=False),
              help="Export folder [default: $SOUNDTRANSFORM_MODELS or exported_models/].")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Extra metadata to record.")
@click.option("--format", "fmt", default="savedmodel", show_default=True,
              type=click.Choice(["savedmodel", "tflite", "onnx"]),
              help="savedmodel: a new version for TF Serving; tflite or onnx: an exported model's network as one file.")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="With --format tflite|onnx: the file to write [default: model.tflite or model.onnx in the "
                   "version folder, where convert finds it].")
def export_command(run, name, phase, n_iter, overlap, upper_bins, input_peak_db, models_dir, settings, fmt, out):
    """Export a trained generator as the next version of a TF Serving model, or a model as a TFLite/ONNX file.

    RUN_DIR_OR_CHECKPOINT is a training run folder (its config.json and
    generator .keras file), a generator .keras file, or an exported version
    folder (NAME/VERSION: exported again as the next version, keeping its
    metadata and the settings not given here).  With --format tflite or onnx
    it is an exported model: a name (its newest version) or a NAME/VERSION
    folder; the file holds its network, and the settings stay the export's.
    """
    from soundtransform.errors import ParameterError
    from soundtransform.export import export_run
    from soundtransform.pipeline import check_input_peak_db

    if fmt != "savedmodel":
        given = [flag for flag, value in (("--name", name), ("--phase", phase), ("--griffin-lim-iters", n_iter),
                                          ("--overlap", overlap), ("--upper-bins", upper_bins),
                                          ("--input-peak-db", input_peak_db), ("--set", settings)) if value]
        if given:
            raise ParameterError(f"{', '.join(given)} {'are' if len(given) > 1 else 'is'} fixed by the SavedModel; "
                                 f"--format {fmt} writes an exported model's network as it is")
        from soundtransform.formats import export_format

        click.echo(f"wrote {export_format(run, fmt, out=out, base_dir=models_dir)}")
        return
    if out is not None:
        raise ParameterError("--out is for --format tflite|onnx; a SavedModel goes into --models-dir")

    options = dict(phase=phase, n_iter=n_iter, overlap=overlap, upper_bins=upper_bins)
    if input_peak_db is not None:
        options["input_peak_db"] = check_input_peak_db(input_peak_db)
    path = export_run(run, name=name, base_dir=models_dir, metadata=_parse_settings(settings), **options)
    click.echo(f"exported {path}")


@cli.command()
@click.argument("audio_in", metavar="IN", type=click.Path())
@click.argument("audio_out", metavar="OUT", type=click.Path())
@click.option("--model", default=None,
              help="Exported model name or folder, or a generator .keras file [default: cgan_flute_to_keyboard, "
                   "or $SOUNDTRANSFORM_DEFAULT_MODEL].")
@click.option("--method", default="model", show_default=True,
              help="model (--model, or the default), slow (needs --style), or faster, cgan, cyclegan: that "
                   "method's model for --source -> --target.")
@click.option("--source", default=None, help="With --method faster|cgan|cyclegan: the input's family [default: flute].")
@click.option("--target", default=None, help="With --method faster|cgan|cyclegan: the output's family "
                                             "[default: keyboard].")
@click.option("--style", default=None, type=click.Path(), help="Style sound for --method slow.")
@click.option("--steps", default=None, type=click.IntRange(min=1), help="Optimisation steps for --method slow.")
@click.option("--energy-bands", default=None, type=click.IntRange(min=1, max=256),
              help="--method slow: bands of the energy constraint [default 64: each band follows a style note of "
                   "the input's pitch]; 1 for a melody or a style at another pitch.")
@click.option("--by-note/--whole", "by_note", default=None,
              help="A model converts each note (onsets found in the audio) on its own, or the clip as one "
                   "[default: a cgan or CycleGAN model converts a melody note by note, a single note whole; "
                   "Faster and --method slow convert the clip whole].")
@click.option("--png", is_flag=True, help="Also write OUT.png: input and output spectrograms.")
@click.option("--overwrite", is_flag=True,
              help="Replace existing outputs (atomically); by default they are kept and reported.")
@click.option("--runtime", default="auto", show_default=True, type=click.Choice(["auto", "onnx", "tflite", "savedmodel"]),
              help="What runs an exported model: its ONNX or TFLite file (no TensorFlow), or the SavedModel; "
                   "auto: the ONNX file where the model has one.")
def convert(audio_in, audio_out, model, method, source, target, style, steps, energy_bands, by_note, png, overwrite,
            runtime):
    """Convert IN (a file, or a folder of files) into OUT (a file, or a folder).

    Any length, sample rate and channel count; the output is mono at the
    input's rate and duration.
    """
    from soundtransform.convert import MODEL_METHODS, convert_path
    from soundtransform.errors import ParameterError

    if method == "model" and model is None and (source or target):
        method = "cgan"  # a direction without a method: the default model's method
    if method == "slow":
        if style is None:
            raise ParameterError("--method slow needs a style sound: --style STYLE.wav")
        if by_note:
            raise ParameterError("--by-note is for models; --method slow converts the whole clip")
        if model is not None:
            raise ParameterError("--method slow takes --style, not --model")
    else:
        if style is not None:
            raise ParameterError("--style is for --method slow; a model brings its own target sound")
        slow_only = [flag for flag, value in (("--steps", steps), ("--energy-bands", energy_bands)) if value]
        if slow_only:
            raise ParameterError(f"{' and '.join(slow_only)} {'are' if len(slow_only) > 1 else 'is'} "
                                 "for --method slow")
    if method in MODEL_METHODS and model is not None:
        raise ParameterError(f"--method {method} picks its own model; give --model or --method, not both")
    if (source or target) and method not in MODEL_METHODS:
        raise ParameterError(f"--source and --target pick the model of --method {'|'.join(MODEL_METHODS)}")
    options = {key: value for key, value in (("steps", steps), ("energy_bands", energy_bands)) if value}
    if by_note is not None:
        options["by_note"] = by_note
    options.update({key: value for key, value in (("source", source), ("target", target)) if value})
    if runtime != "auto":
        if method == "slow":
            raise ParameterError("--runtime is for models; --method slow runs in TensorFlow")
        options["runtime"] = runtime
    result = convert_path(audio_in, audio_out, model=model, method=method, style=style, png=png,
                          overwrite=overwrite, **options)
    if result["kept"]:
        click.echo(f"kept {len(result['kept'])} existing outputs (--overwrite replaces them)", err=True)
    for path, message in result["failed"]:
        click.echo(f"skipped {path}: {message}", err=True)
    if len(result["converted"]) == 1 and not os.path.isdir(audio_in):
        click.echo(f"wrote {result['converted'][0]}")
    else:
        click.echo(f"wrote {len(result['converted'])} files into {audio_out}")
    if result["failed"]:
        sys.exit(1)


@cli.command()
@click.option("--models-dir", default=None, type=click.Path(file_okay=False),
              help="[default: $SOUNDTRANSFORM_MODELS, then the shipped exported_models/]")
def models(models_dir):
    """List the exported models (shipped and your own) with their metadata."""
    from soundtransform.registry import default_model, describe, list_models, search_dirs

    entries = list_models(models_dir)
    if not entries:
        click.echo(f"no models in {' or '.join(search_dirs(models_dir))}; export one with `soundtransform export`")
    for entry in entries:
        click.echo("\n".join(describe(entry, default=default_model())))


# ------------------------------------------------ serving-config, serve-client


@cli.command("serving-config")
@click.option("--models-dir", default=None, type=click.Path(file_okay=False),
              help="Export folder [default: $SOUNDTRANSFORM_MODELS or exported_models/].")
@click.option("--model", default=None, help="The model whose versions and labels are set.")
@click.option("--versions", default=None,
              help="Versions TF Serving loads: latest, latest:N, all or specific:1,2 [default: latest].")
@click.option("--label", "labels", multiple=True, metavar="NAME=VERSION",
              help="Version label, e.g. --label stable=1 --label canary=2 (needs specific or all).")
@click.option("--mount", default=None, help="Where the export folder is mounted in TF Serving [default: /models].")
def serving_config(models_dir, model, versions, labels, mount):
    """Set a model's TF Serving version policy and labels; rewrite models.config.

    Without --model, models.config is only rewritten.  The settings are kept
    in serving.json beside it, so later exports keep them.
    """
    from soundtransform.registry import configure

    path = configure(models_dir, model=model, versions=versions, labels=labels, mount=mount)
    with open(path, encoding="utf-8") as f:
        click.echo(f.read(), nl=False)
    click.echo(f"wrote {path}", err=True)


@cli.command("serve-client")
@click.argument("in_dir", metavar="IN_DIR", type=click.Path())
@click.argument("out_dir", metavar="OUT_DIR", type=click.Path())
@click.option("--url", default="http://localhost:8501", show_default=True, help="TF Serving's REST address.")
@click.option("--model", default=None, help="Served model name [default: cgan_flute_to_keyboard].")
@click.option("--version", "version", default=None, type=click.IntRange(min=1), help="A version number.")
@click.option("--label", default=None, help="Or a version label (stable, canary) [default: newest served].")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(min=1),
              help="Requests in flight at once.")
@click.option("--format", "request_format", default="columnar", show_default=True,
              help="REST request: columnar ({\"inputs\"}) or row ({\"instances\"}).")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds per request.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (atomically).")
def serve_client(in_dir, out_dir, url, model, version, label, concurrency, request_format, timeout, overwrite):
    """Convert every audio file of IN_DIR through TF Serving's REST API into OUT_DIR."""
    from soundtransform.registry import default_model
    from soundtransform.serving import convert_folder_rest

    result = convert_folder_rest(in_dir, out_dir, url, model or default_model(), version=version, label=label,
                                 concurrency=concurrency, request_format=request_format, timeout=timeout,
                                 overwrite=overwrite)
    if result["kept"]:
        click.echo(f"kept {len(result['kept'])} existing outputs (--overwrite replaces them)", err=True)
    for path, message in result["failed"]:
        click.echo(f"skipped {path}: {message}", err=True)
    speed = result["audio_seconds"] / max(result["seconds"], 1e-9)
    click.echo(f"wrote {len(result['converted'])} files into {out_dir}: {result['audio_seconds']:.1f} s of audio "
               f"in {result['seconds']:.1f} s ({speed:.1f}x real time, {concurrency} requests in flight)")
    if result["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    cli()
