"""The report of `evaluate`: every figure for one folder of generated sounds, as JSON and Markdown.

`evaluate` matches each generated file to its input by file name and judges
it with the figures of `judges`, `pitch`, `naturalness`, `dynamics` and, for
inputs with notes, `melodies`; the unconverted inputs get the same figures, as
the baseline.  With ``degrade="room-noise"`` and a ``model``, the inputs are
also put in a small room with a noise floor (`recording.condition`),
converted by the model as `soundtransform convert` converts by default, and
the outputs judged again, beside the clean figures.  It writes
``report.json``, ``report.md`` (`markdown`) and ``tsne.png``.
"""

import json
import os

import numpy as np

from soundtransform import audio, data, phrases
from soundtransform.errors import DataError, ParameterError
from soundtransform.evaluate.judges import (FEATURE_LAYER, audio_files, classify_waveforms, embed_waveforms,
                                            is_timbre_judge, judge_window_seconds, load_judge, load_phrase_judge)
from soundtransform.evaluate.dynamics import note_dynamics
from soundtransform.evaluate.melodies import find_notes, phrase_figures, phrase_window_seconds
from soundtransform.evaluate.naturalness import frechet_naturalness, nearest_target_distance, separation
from soundtransform.evaluate.pitch import midi_pitch, pitch_preservation
from soundtransform.fileio import write_text
from soundtransform.plot import save_tsne


def _match(generated_files, input_dir):
    """Pair generated files with the input of the same file stem in ``input_dir``."""
    inputs = {os.path.splitext(os.path.basename(f))[0]: f for f in audio_files(input_dir)}
    pairs = [(g, inputs.get(os.path.splitext(os.path.basename(g))[0])) for g in generated_files]
    if not any(i for _, i in pairs):
        raise DataError(
            f"no generated file has an input of the same name in {input_dir} "
            f"(e.g. {os.path.basename(generated_files[0])})"
        )
    return pairs


def _target_notes(target, data_dir=None, split="test", target_dir=None):
    """Paths of the natural target notes: a folder, or one family of a dataset split."""
    if (data_dir is None) == (target_dir is None):
        raise ParameterError("give natural target notes as either a dataset (--data) or a folder (--target-dir)")
    if target_dir is not None:
        return audio_files(target_dir)
    return [n.path for n in data.load_notes(data_dir, split, families=[target])]


def _judge_name(phrase_judge, model, judge):
    """How a report names the judge of phrase windows (`load_phrase_judge`'s choice)."""
    if isinstance(phrase_judge, (str, os.PathLike)):
        return os.fspath(phrase_judge)
    if phrase_judge is not None:
        return getattr(model, "name", "phrase judge")
    if judge is not None:
        return "the judge (--judge)"
    if getattr(model, "unit", "window") == "note":
        return "shipped phrase_judge.keras (TimbreJudge, note by note)"
    return "shipped judge.keras (TimbreJudge, no phrase_judge.keras shipped)"


def _instruments(files):
    """The instrument of each natural note, from NSynth file names; None unless every name is one."""
    try:
        return [data.parse_note_name(f).instrument_str for f in files]
    except DataError:
        return None


def _judge_record(judge):
    """What the judge's JSON (beside a shipped or given ``.keras``) says of how far it generalises."""
    from soundtransform.methods import classifier as classifier_method

    path = classifier_method.default_path("judge") if judge is None else judge
    if not isinstance(path, (str, os.PathLike)):
        return None
    path = os.path.splitext(os.fspath(path))[0] + ".json"
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        saved = json.load(f)
    return {k: saved[k] for k in ("features", "hidden", "augment", "test_per_family", "leave_one_soundfont_out")
            if k in saved}


def _degraded_figures(model, by_note, degrade, matched, inputs, note_lists, source, target, judge, windows_judge,
                      target_embeddings, target_instruments, out_dir, seed, seconds, layer, progress):
    """Every figure of the outputs of the inputs under a recording-like condition (`recording.condition`)."""
    from soundtransform.convert import converter_for
    from soundtransform.evaluate.recording import condition

    converter = converter_for(model, by_note=None if by_note else False)  # None: as `convert` converts by default
    degraded = condition(inputs, degrade, seed=seed)
    outputs = [converter.convert(y) for y in degraded]
    folder = os.path.join(out_dir, degrade)
    for sub in ("inputs", "converted"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    for (_, path), y_in, y_out in zip(matched, degraded, outputs):
        name = os.path.splitext(os.path.basename(path))[0] + ".wav"
        audio.save(os.path.join(folder, "inputs", name), y_in, subtype="FLOAT")
        audio.save(os.path.join(folder, "converted", name), y_out, subtype="FLOAT")
    probs = classify_waveforms(outputs, judge, progress=progress)
    predicted = [data.FAMILIES[i] for i in np.argmax(probs, axis=1)]
    input_predicted = np.argmax(classify_waveforms(degraded, judge, progress=progress), axis=1)
    embedded = embed_waveforms(outputs, judge, layer=layer, progress=progress)
    out = {
        "model": converter.name,
        "by_note": bool(by_note),
        "condition": "a small room (RT60 0.2-0.6 s, 10-40 % wet) and a white or pink noise floor 30-40 dB "
                     "below the peak, on each input",
        "folder": folder,
        "consistency": {"as_target": float(np.mean([p == target for p in predicted])),
                        "as_source": float(np.mean([p == source for p in predicted])),
                        "inputs_judged_source": float(np.mean(input_predicted == data.FAMILIES.index(source)))},
        "frechet": frechet_naturalness(embedded, target_embeddings, target_instruments, seed=seed),
        "pitch": pitch_preservation(outputs, inputs, progress=progress),
        "dynamics": {"generated": note_dynamics(outputs), "input": note_dynamics(degraded)},
        "phrases": None,
    }
    items = [(y, y_in, n) for y, y_in, n in zip(outputs, degraded, note_lists) if n]
    if items:
        lists = [n for _, _, n in items]
        out["phrases"] = {
            "generated": phrase_figures([y for y, _, _ in items], lists, target, windows_judge, seconds, progress),
            "input": phrase_figures([y for _, y, _ in items], lists, target, windows_judge, seconds, progress)}
    return out


def evaluate(generated_dir, input_dir, source, target, out_dir, data_dir=None, split="test", target_dir=None,
             judge=None, layer=FEATURE_LAYER, seed=0, window_seconds=None, phrase_judge=None, detect_notes=False,
             degrade=None, model=None, by_note=True, progress=True):
    """Judge a folder of generated sounds against their inputs and natural target notes.

    Parameters
    ----------
    generated_dir : str
        The method's outputs; each is matched to the input of the same file
        name in ``input_dir``.
    input_dir : str
        The source sounds they came from (may hold more files).
    source, target : str
        NSynth families.
    out_dir : str
        Receives ``report.json``, ``report.md`` and ``tsne.png``.
    data_dir, split : str
        Natural target notes: the ``target`` family of an NSynth-layout split ...
    target_dir : str
        ... or a folder of them.
    judge : str, TimbreJudge or VGG19AudioClassifier, optional
        Default: the shipped judge, trained independently of the perceptual
        classifier that Slow and Faster use.
    window_seconds : float, optional
        Phrases only: the length of the windows judged one by one; default
        `phrase_window_seconds`.
    phrase_judge : str or TimbreJudge, optional
        Phrases only: the judge of their windows (`load_phrase_judge`);
        default the shipped ``phrase_judge.keras``, which judges a window note
        by note, unless ``judge`` is given.
    detect_notes : bool
        Also judge inputs without a phrase JSON as phrases, against the notes
        `find_notes` finds in each input (for a user's own recordings).
    layer : str
        A VGG judge's layer whose features the t-SNE map, separation and
        Fréchet distances use (a `TimbreJudge` uses its standardised timbre
        statistics).
    degrade : {None, "room-noise"}
        Also judge ``model``'s outputs of the inputs under this recording-like
        condition (`recording.condition`); they and the degraded inputs are
        written to ``out_dir/DEGRADE/``.
    model : str, optional
        The model that converts the degraded inputs (`convert.load_model`):
        the one that made ``generated_dir``.
    by_note : bool
        The degraded inputs are converted as ``soundtransform convert``
        converts by default (`convert.converter_for`: a cgan's or CycleGAN's
        melody note by note, anything else whole); False: each whole.

    Returns
    -------
    dict, the report also written to ``report.json``.
    """
    from tqdm import tqdm

    for name, family in (("source", source), ("target", target)):
        if family not in data.FAMILIES:
            raise ParameterError(f"unknown {name} family {family!r}; choose from: {', '.join(data.FAMILIES)}")
    if degrade is not None:
        from soundtransform.evaluate.recording import CONDITIONS

        if degrade not in CONDITIONS[1:]:
            raise ParameterError(f"unknown recording condition {degrade!r}; choose from: {', '.join(CONDITIONS[1:])}")
        if model is None:
            raise ParameterError("a degraded evaluation needs the model that converts the degraded inputs (--model)")
    for name, folder in (("generated", generated_dir), ("input", input_dir)):
        if not os.path.isdir(folder):
            raise DataError(f"{name} folder {folder} does not exist or is not a folder")
    target_files = _target_notes(target, data_dir, split, target_dir)
    pairs = _match(audio_files(generated_dir), input_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DataError(f"output {out_dir} is a file, expected a folder")
    os.makedirs(out_dir, exist_ok=True)
    judge_model = load_judge(judge)
    # Loaded up front, so a bad --phrase-judge fails before the slow steps; a judge given judges phrases too.
    windows_judge = load_phrase_judge(phrase_judge, None if judge is None else judge_model)

    def load_all(files, desc):
        return [audio.load(f, require_sound=True) for f in tqdm(files, desc=desc, disable=not progress, leave=False)]

    generated = load_all([g for g, _ in pairs], "load generated")
    matched = [(y, i) for y, (_, i) in zip(generated, pairs) if i]
    inputs = load_all([i for _, i in matched], "load inputs")
    targets = load_all(target_files, "load targets")

    # 1. Classifier consistency (Liu et al. 2019): what the judge hears.
    probs = classify_waveforms(generated, judge_model, progress=progress)
    predicted = [data.FAMILIES[i] for i in np.argmax(probs, axis=1)]
    target_probs = classify_waveforms(targets, judge_model, progress=progress)
    consistency = {
        "as_target": float(np.mean([p == target for p in predicted])),
        "as_source": float(np.mean([p == source for p in predicted])),
        "as_other": float(np.mean([p not in (source, target) for p in predicted])),
        "judge_accuracy_on_natural_targets": float(np.mean(np.argmax(target_probs, axis=1) == data.FAMILIES.index(target))),
    }
    # 2. Feature space: t-SNE map and whether generated sounds form their own group.
    feats = embed_waveforms(generated + inputs + targets, judge_model, layer=layer, progress=progress)
    groups = np.array(["generated"] * len(generated) + ["source"] * len(inputs) + ["target"] * len(targets))
    space = separation(feats, groups, seed=seed)
    tsne_png = os.path.join(out_dir, "tsne.png")
    save_tsne(tsne_png, feats, groups, {"generated": f"generated ({source} -> {target})",
                                        "source": f"input {source}", "target": f"natural {target}"},
              seed=seed,
              title=f"t-SNE of judge features ({'timbre statistics' if is_timbre_judge(judge_model) else layer})")
    # 3. Pitch preservation against each output's own input.
    pitch = pitch_preservation([y for y, _ in matched], inputs, progress=progress)
    # 4. Log-spectral distance to the nearest natural target note of the same pitch.
    pitches = [midi_pitch(i, y_in) for (_, i), y_in in zip(matched, inputs)]
    target_pitches = [midi_pitch(f, y) for f, y in zip(target_files, targets)]
    lsd = nearest_target_distance([y for y, _ in matched], pitches, list(zip(targets, target_pitches)),
                                  progress=progress)
    # 5. Naturalness: Fréchet distance to the natural notes, beside what each natural instrument scores;
    #    attack and decay of each clip taken as one note.
    target_feats = feats[len(generated) + len(inputs):]
    instruments = _instruments(target_files)
    frechet = {"generated": frechet_naturalness(feats[:len(generated)], target_feats, instruments, seed=seed),
               "input": frechet_naturalness(feats[len(generated):len(generated) + len(inputs)], target_feats,
                                            seed=seed)["generated"]}
    dynamics = {"generated": note_dynamics(generated), "input": note_dynamics(inputs),
                "natural_target": note_dynamics(targets)}
    # 6. Phrases: each note against the JSON beside its input; the unconverted input as baseline.
    note_lists = [phrases.notes_beside(i) for _, i in matched]
    written = sum(bool(n) for n in note_lists)
    if detect_notes:
        note_lists = [n or find_notes(y_in) for n, y_in in zip(note_lists, inputs)]
    phrase_items = [(y, y_in, n) for (y, _), y_in, n in zip(matched, inputs, note_lists) if n]
    phrase_report = None
    seconds = phrase_window_seconds(windows_judge, window_seconds)
    if phrase_items:
        lists = [n for _, _, n in phrase_items]
        own = judge_window_seconds(windows_judge)
        phrase_report = {
            "phrases": len(phrase_items),
            "notes_from": {"json": written, "detected": len(phrase_items) - written},
            "window_seconds": seconds,
            "judge_window_seconds": own,
            "phrase_judge": _judge_name(phrase_judge, windows_judge, judge),
            "judged_by": getattr(windows_judge, "unit", "window"),
            "files": [os.path.basename(i) for (_, i), n in zip(matched, note_lists) if n],
            "generated": phrase_figures([y for y, _, _ in phrase_items], lists, target, windows_judge, seconds,
                                        progress),
            "input": phrase_figures([y for _, y, _ in phrase_items], lists, target, windows_judge, seconds, progress),
        }
    # 7. The same figures for the outputs of inputs that sound as if recorded.
    degraded = None
    if degrade is not None:
        degraded = _degraded_figures(model, by_note, degrade, matched, inputs, note_lists, source, target,
                                     judge_model, windows_judge, target_feats, instruments, out_dir, seed, seconds,
                                     layer, progress)

    report = {
        "generated_dir": os.path.abspath(generated_dir),
        "input_dir": os.path.abspath(input_dir),
        "source": source,
        "target": target,
        "targets": data_dir and f"{os.path.abspath(data_dir)} [{split}]" or os.path.abspath(target_dir),
        "judge": os.fspath(judge) if isinstance(judge, (str, os.PathLike)) else (
            "shipped judge.keras (TimbreJudge)" if judge is None else getattr(judge_model, "name", "judge")),
        "counts": {"generated": len(generated), "matched_inputs": len(inputs), "natural_targets": len(targets)},
        "consistency": consistency,
        "feature_space": {"layer": "timbre statistics" if is_timbre_judge(judge_model) else layer, **space,
                          "tsne_png": tsne_png},
        "pitch": pitch,
        "log_spectral_distance": lsd,
        "frechet": frechet,
        "dynamics": dynamics,
        "phrases": phrase_report,
        "judge_generalisation": _judge_record(judge),
        "degraded": degraded,
        "per_file": [{"file": os.path.basename(g), "predicted": p, "p_target": float(pr[data.FAMILIES.index(target)])}
                     for (g, _), p, pr in zip(pairs, predicted, probs)],
    }
    write_text(os.path.join(out_dir, "report.json"), json.dumps(report, indent=1))
    write_text(os.path.join(out_dir, "report.md"), markdown(report))
    return report


def _fmt(value, spec=".2f"):
    return "n/a" if value is None else format(value, spec)


def markdown(report):
    """A short Markdown table of an `evaluate` report."""
    c, s, p, d = report["consistency"], report["feature_space"], report["pitch"], report["log_spectral_distance"]
    rows = [
        ("classified as target", _fmt(c["as_target"], ".1%")),
        ("classified as source", _fmt(c["as_source"], ".1%")),
        ("classified as another family", _fmt(c["as_other"], ".1%")),
        ("judge accuracy on natural targets", _fmt(c["judge_accuracy_on_natural_targets"], ".1%")),
        ("silhouette, generated vs natural", _fmt(s["silhouette_generated"])),
        ("silhouette, 3 groups", _fmt(s["silhouette_groups"])),
        ("linear probe generated vs natural (bal. acc.)", _fmt(s["probe_accuracy"], ".1%")),
        ("pitch within 50 cents", _fmt(p["within_50_cents"], ".1%")),
        ("median pitch error (cents)", _fmt(p["median_abs_cents"], ".1f")),
        ("octave errors", _fmt(p["octave_errors"], ".1%")),
        ("log-spectral distance to nearest target (dB)", _fmt(d["mean_db"], ".2f")),
    ]
    n = report["counts"]
    head = (f"{report['source']} -> {report['target']}: {n['generated']} generated, "
            f"{n['matched_inputs']} matched inputs, {n['natural_targets']} natural targets\n\n")
    table = head + "| metric | value |\n| --- | --- |\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    table += "\n" + _naturalness_markdown(report)
    if report.get("phrases"):
        table += "\n" + _phrase_markdown(report["phrases"])
    if report.get("degraded"):
        table += "\n" + _degraded_markdown(report)
    return table


def _range(f):
    """A Fréchet result's natural range, ``min-max (median)``."""
    if f.get("median") is None:
        return "n/a"
    return f"{f['min']:.1f}-{f['max']:.1f} (median {f['median']:.1f}, {len(f['instruments'])} instruments)"


def _quartiles(d, key, spec=".0f"):
    q = d[key]
    return "n/a" if q["median"] is None else f"{q['median']:{spec}} ({q['p25']:{spec}}-{q['p75']:{spec}})"


def _naturalness_markdown(report):
    """Fréchet distances and attack and decay: generated, unconverted input, natural target."""
    f, d = report["frechet"], report["dynamics"]
    g = f["generated"]
    rows = [
        ("Fréchet distance to natural targets, all notes", _fmt(g["generated"], ".1f"), _fmt(f["input"], ".1f"), ""),
        ("Fréchet distance at one instrument's note count", _fmt(g["generated_at_instrument_size"], ".1f"), "",
         _range(g)),
        ("onset to peak, ms: median (quartiles)", _quartiles(d["generated"], "attack_ms"),
         _quartiles(d["input"], "attack_ms"), _quartiles(d["natural_target"], "attack_ms")),
        ("level fall, first to last sixth, dB", _quartiles(d["generated"], "fall_db", ".1f"),
         _quartiles(d["input"], "fall_db", ".1f"), _quartiles(d["natural_target"], "fall_db", ".1f")),
    ]
    return ("| naturalness | generated | unconverted input | natural targets |\n| --- | --- | --- | --- |\n"
            + "".join(f"| {a} | {b} | {c} | {e} |\n" for a, b, c, e in rows))


def _degraded_markdown(report):
    """The outputs of recording-like inputs beside the clean ones."""
    deg, c = report["degraded"], report["consistency"]
    fc, fd = report["frechet"]["generated"], deg["frechet"]
    rows = [
        ("classified as target", _fmt(c["as_target"], ".1%"), _fmt(deg["consistency"]["as_target"], ".1%")),
        ("Fréchet distance at one instrument's note count", _fmt(fc["generated_at_instrument_size"], ".1f"),
         _fmt(fd["generated_at_instrument_size"], ".1f")),
        ("pitch within 50 cents", _fmt(report["pitch"]["within_50_cents"], ".1%"),
         _fmt(deg["pitch"]["within_50_cents"], ".1%")),
        ("onset to peak, ms", _quartiles(report["dynamics"]["generated"], "attack_ms"),
         _quartiles(deg["dynamics"]["generated"], "attack_ms")),
        ("level fall, dB", _quartiles(report["dynamics"]["generated"], "fall_db", ".1f"),
         _quartiles(deg["dynamics"]["generated"], "fall_db", ".1f")),
    ]
    if deg.get("phrases") and report.get("phrases"):
        pc, pd = report["phrases"]["generated"], deg["phrases"]["generated"]
        rows += [("phrase notes within 50 cents", _fmt(pc["pitch"]["within_50_cents"], ".1%"),
                  _fmt(pd["pitch"]["within_50_cents"], ".1%")),
                 ("phrase onset F1", _fmt(pc["onset_f1"]["f1"], ".1%"), _fmt(pd["onset_f1"]["f1"], ".1%")),
                 ("phrase windows classified as target", _fmt(pc["windows"]["as_target"], ".1%"),
                  _fmt(pd["windows"]["as_target"], ".1%"))]
    head = (f"Inputs as if recorded ({deg['condition']}), converted by {deg['model']}; "
            f"{_fmt(deg['consistency']['inputs_judged_source'], '.1%')} of the degraded inputs judged source\n\n")
    return head + "| figure | clean inputs | recording-like inputs |\n| --- | --- | --- |\n" + "".join(
        f"| {a} | {b} | {e} |\n" for a, b, e in rows)


def _phrase_markdown(ph):
    """The phrase figures as a table: generated against the unconverted input."""
    g, i = ph["generated"], ph["input"]
    rows = [
        ("notes within 50 cents", "pitch", "within_50_cents", ".1%"),
        ("median note pitch error (cents)", "pitch", "median_abs_cents", ".1f"),
        ("unvoiced notes", "pitch", "unvoiced", ".1%"),
        ("onsets within 50 ms", "onsets", "within_50_ms", ".1%"),
        ("median onset error (ms)", "onsets", "median_abs_ms", ".1f"),
        ("detected onsets per note", "onsets", "detected_per_note", ".2f"),
        ("detected onsets within 50 ms of a note (precision)", "onsets", "precision", ".1%"),
        ("onset F1 (one-to-one within 50 ms)", "onset_f1", "f1", ".1%"),
        (f"{ph['window_seconds']:g}-s windows classified as target", "windows", "as_target", ".1%"),
    ]
    found = ph.get("notes_from", {}).get("detected", 0)
    source = (f" ({found} with notes found in the input, no JSON: the input's own pitch and onset figures "
              "are then near 100 % by construction)") if found else ""
    head = (f"{ph['phrases']} phrases{source}, {g['pitch']['notes']} notes "
            f"({g['onsets']['notes']} after the first 50 ms), "
            f"{g['windows']['windows']} windows of "
            f"{ph['window_seconds']:g} s, judged "
            + ("note by note" if ph.get("judged_by") == "note" else
               f"whole (the judge's own window: {_fmt(ph['judge_window_seconds'], '.2f')} s)")
            + f" by {ph.get('phrase_judge', 'the judge')}\n\n")
    rows = [(name, _fmt(g[part][key], spec), _fmt(i[part][key], spec)) for name, part, key, spec in rows]
    rows += [("note onset to peak, ms", _quartiles(g["dynamics"], "attack_ms"), _quartiles(i["dynamics"], "attack_ms")),
             ("note level fall, dB", _quartiles(g["dynamics"], "fall_db", ".1f"),
              _quartiles(i["dynamics"], "fall_db", ".1f"))]
    return head + "| phrase metric | generated | unconverted input |\n| --- | --- | --- |\n" + "".join(
        f"| {name} | {a} | {b} |\n" for name, a, b in rows)
