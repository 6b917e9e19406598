"""training/recipes.py and `train --recipe`: every shipped recipe describes its model; a tiny one rebuilds end to end."""

import glob
import json
import os
import tomllib

import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error, run_cli
from soundtransform import presets, registry
from soundtransform.errors import DataError, ParameterError
from soundtransform.training import recipes

RECIPES = sorted(glob.glob(os.path.join(ROOT, "recipes", "*.toml")))
SHIPPED = os.path.join(ROOT, "exported_models")

TINY = """
name = "tiny_cgan"
method = "cgan"
source = "flute"
target = "keyboard"
preset = "tiny"

[data]
notes = ["flute", "keyboard"]

[settings]
select_by = "last"

[stages.base]
epochs = 1

[stages.tune]
init_from = "base"
learning_rate = 1e-4

[stages.more]
resume = "tune"
epochs = 2
augment_gain_db = 6.0

[stages.soup]
average = { more = 0.25, base = 0.75 }

[export]
stage = "soup"
phase = "source"
input_peak_db = -19.0
"""


def write(tmp_path, text, name="recipe.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def newest(name):
    return os.path.join(SHIPPED, name, str(registry.versions(os.path.join(SHIPPED, name))[-1]))


def strings(value):
    """Every string in a JSON value, keys included."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_there_is_a_recipe_for_every_shipped_model():
    names = {os.path.splitext(os.path.basename(p))[0] for p in RECIPES}
    assert set(registry.model_names(SHIPPED)) | {"perceptual"} == names


@pytest.mark.parametrize("path", RECIPES, ids=os.path.basename)
def test_shipped_recipe_matches_the_metadata_of_its_model(path):
    """Each stage resolves (`presets.resolve`), and the exported stage's settings and the export settings are
    those the newest shipped version records."""
    recipe = recipes.load(path)
    assert recipe.name == os.path.splitext(os.path.basename(path))[0]
    assert recipe.file == os.path.relpath(path) or recipe.file == os.path.basename(path)
    if recipe.method == "classifier":
        with open(os.path.join(SHIPPED, "classifiers", f"{recipe.name}.json"), encoding="utf-8") as f:
            shipped = json.load(f)
        config = presets.resolve("classifier", recipe.preset, **recipe.stages[0].settings)
        assert [config["freq_bins"], config["frames"]] == shipped["input_size"]
        assert config["epochs"] == shipped["epochs_run"] and config["width"] == shipped["width"]
        return
    metadata = registry.read_metadata(newest(recipe.name))
    assert metadata["recipe"]["file"] == f"recipes/{recipe.name}.toml"
    assert metadata["recipe"]["stage"] == recipe.export["stage"]
    for key in ("phase", "input_peak_db", "upper_bins", "overlap", "n_iter"):
        assert recipe.export.get(key) == metadata.get(key), key
    stage = recipe.stage(recipe.export["stage"])
    while stage.kind == "average":  # an average records its first stage's configuration
        stage = recipe.stage(next(iter(stage.shares)))
    settings = dict(stage.settings)
    while stage.kind == "resume":
        stage = recipe.stage(stage.start)
        settings = {**stage.settings, **settings}
    config = presets.resolve(recipe.method, recipe.preset, **settings)
    assert config["freq_bins"] == metadata["freq_bins"] and config["frames"] == metadata["frames"]
    shipped = metadata.get("config")
    if shipped is None:  # trained before the configuration was recorded
        return
    for key in set(shipped) & set(config) - {"export_dir", "init_from"}:
        assert json.loads(json.dumps(config[key])) == shipped[key], key
    assert shipped.get("init_from") == stage.start


def test_shipped_metadata_names_no_machine_path():
    files = glob.glob(os.path.join(SHIPPED, "*", "*", "assets", registry.METADATA_FILE))
    files += glob.glob(os.path.join(SHIPPED, "classifiers", "*.json"))
    assert len(files) >= 8  # five models and three classifiers
    for path in files:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
        for text in strings(metadata):
            assert not os.path.isabs(text) and "runs/" not in text and " /" not in text, (path, text)


def test_shipped_versions_name_their_recipe_and_stage():
    for name in registry.model_names(SHIPPED):
        metadata = registry.read_metadata(newest(name))
        recipe = recipes.load(os.path.join(ROOT, metadata["recipe"]["file"]))
        assert recipe.name == name
        recipe.stage(metadata["recipe"]["stage"])
        for stage in metadata.get("averaged_from", {}):
            assert recipe.stage(stage).kind != "average"


def test_tiny_recipe_rebuilds_resumes_and_converts(dataset, notes, tmp_path):
    """Train, fine-tune (init_from), continue (resume), average, export; then convert a note with the export;
    the same command again keeps every stage and the export; a changed recipe is refused."""
    import soundtransform
    from soundtransform.training import runs

    path = write(tmp_path, TINY)
    run_dir, models = tmp_path / "run", tmp_path / "models"
    lines = []
    result = recipes.run(path, dataset, run_dir=str(run_dir), models_dir=str(models), progress=False,
                         log=lines.append)
    assert [line.split(":")[0] for line in lines] == [f"stage {i}/4 {s}" for i, s in
                                                      enumerate(("base", "tune", "more", "soup"), 1)] + ["export"]
    assert "from stage base" in lines[1] and "continued to 2 epochs with augment_gain_db=6.0" in lines[2]
    version_dir = result["export"]
    assert version_dir == str(models / "tiny_cgan" / "1")

    tune = runs.read_run_info(str(run_dir / "tune"))["config"]
    assert tune["init_from"] == str(run_dir / "base") and tune["learning_rate"] == 1e-4
    more = runs.read_run_info(str(run_dir / "more"))["config"]
    assert more["epochs"] == 2 and more["changes"][0] == {"after_epoch": 1, "key": "augment_gain_db", "from": 0.0,
                                                           "to": 6.0}
    exported = runs.load_exported_generator(version_dir).get_weights()
    base, continued = (runs.load_generator(runs.find_run_generator(str(run_dir / s))[0]).get_weights()
                       for s in ("base", "more"))
    assert any(not np.allclose(a, b) for a, b in zip(base, continued))
    for got, a, b in zip(exported, base, continued):
        np.testing.assert_allclose(got, 0.75 * a + 0.25 * b, rtol=1e-5, atol=1e-6)

    metadata = registry.read_metadata(version_dir)
    with open(path, "rb") as f:
        assert metadata["recipe"]["content"] == tomllib.load(f)
    assert metadata["recipe"]["name"] == "tiny_cgan" and metadata["recipe"]["stage"] == "soup"
    assert metadata["averaged_from"] == {"more": 0.25, "base": 0.75}
    assert metadata["config"]["init_from"] == "base"  # the first averaged stage's, a fine-tune of base
    assert metadata["input_peak_db"] == -19.0 and metadata["phase"] == "source"
    instruments = metadata["training_data"]["instruments"]
    assert instruments["train"]["flute"] and instruments["train"]["keyboard"] and instruments["valid"]["flute"]
    for text in strings(metadata):
        assert str(tmp_path) not in text and not text.startswith("/") and "runs/" not in text, text

    flute = next(n for n in notes if n.family == "flute")
    out = soundtransform.convert_file(flute.path, str(tmp_path / "converted.wav"), model=version_dir)
    assert os.path.getsize(out if isinstance(out, str) else tmp_path / "converted.wav") > 1000

    again = run_cli("train", "--recipe", path, "--data", dataset, "--run-dir", run_dir, "--models-dir", models)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("finished before, kept") == 4 and "exported before" in again.stdout
    assert registry.versions(str(models / "tiny_cgan")) == [1]

    # Interrupted after the continued run trained, before it was recorded: it resumes with nothing left to train.
    for stage in ("more", "soup"):
        os.remove(run_dir / stage / recipes.STAGE_RECORD)
    lines.clear()
    recipes.run(path, dataset, run_dir=str(run_dir), models_dir=str(models), progress=False, log=lines.append)
    assert [line.endswith("finished before, kept") for line in lines[:4]] == [True, True, False, False]
    assert runs.read_run_info(str(run_dir / "more"))["config"]["epochs"] == 2

    changed = write(tmp_path, TINY.replace("epochs = 1", "epochs = 3"), "changed.toml")
    with pytest.raises(ParameterError, match=r"run/base holds stage base made with other settings; use another"):
        recipes.run(changed, dataset, run_dir=str(run_dir), models_dir=str(models), log=lines.append)


def test_data_the_recipe_needs_is_checked_first(dataset, tmp_path):
    path = write(tmp_path, TINY.replace('notes = ["flute", "keyboard"]',
                                        'notes = ["flute", "keyboard"]\nphrases = ["flute"]\nmelodies = 2'))
    with pytest.raises(DataError, match=r"has 0 of the 2 melodies of flute phrases .* render them with "
                                        r"`soundtransform data render --out .* --kind phrases --melodies 2 "
                                        r"--families flute`"):
        recipes.run(path, dataset, run_dir=str(tmp_path / "run"))
    path = write(tmp_path, TINY.replace('notes = ["flute", "keyboard"]', 'notes = ["flute", "brass"]'))
    with pytest.raises(DataError, match="has no brass notes in split 'train'"):
        recipes.run(path, dataset, run_dir=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, words", [
    ("method = 'cgan'\n[stages.base\n", "is not valid TOML"),
    ("colour = 'red'\n" + TINY, "unknown key 'colour'"),
    (TINY.replace('init_from = "base"', 'init_from = "nope"'), "stage tune starts from unknown stage 'nope'"),
    (TINY.replace('init_from = "base"', 'init_from = "more"'), "stage tune starts from unknown stage 'more'"),
    (TINY.replace('stage = "soup"', 'stage = "last"'), "export: unknown stage 'last'"),
    (TINY.replace('method = "cgan"', 'method = "gan"'), "unknown method 'gan'"),
    (TINY.replace("learning_rate = 1e-4", "learning_rate = 1e-4\ncolour = 1"), "stage tune: cgan has no setting"),
    (TINY.replace("epochs = 2", "epochs = 2\nngf = 8"), "a resumed run may change only"),
    (TINY.replace("more = 0.25", "more = 0.5"), "the shares of an average must sum to 1"),
    (TINY.replace("epochs = 1", "epochs = 1\nexport_dir = 'x'"), "the recipe's runner chooses it"),
], ids=lambda value: value.split(" '")[0].split(":")[0] if "\n" not in value else "")
def test_bad_recipe_is_a_one_line_usage_error(dataset, tmp_path, text, words):
    path = write(tmp_path, text)
    result = run_cli("train", "--recipe", path, "--data", dataset, "--run-dir", tmp_path / "run")
    assert_one_line_error(result, 2, words)
    assert f"recipe {path}" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, words", [
    (["--recipe", "missing.toml"], "no such recipe: missing.toml"),
    (["--recipe", "r.toml", "--method", "cgan"], "--recipe and --method are mutually exclusive"),
    (["--recipe", "r.toml", "--set", "epochs=2", "--preset", "tiny"],
     "--preset, --set cannot be used with --recipe"),
    (["--method", "cgan", "--models-dir", "m", "--set", "export_dir=x"], "--models-dir and --set export_dir"),
])
def test_recipe_options_misused_are_one_line_usage_errors(tmp_path, args, words):
    assert_one_line_error(run_cli("train", "--data", tmp_path, *args, cwd=tmp_path), 2, words)


def test_classifier_recipe_exports_a_classifier_file(dataset, tmp_path):
    path = write(tmp_path, 'method = "classifier"\npreset = "tiny"\n[data]\nnotes = ["flute", "keyboard", "reed"]\n'
                           '[stages.train]\nepochs = 1\n[export]\nstage = "train"\n', "tiny_judge.toml")
    result = recipes.run(path, dataset, run_dir=str(tmp_path / "run"), models_dir=str(tmp_path / "models"),
                         progress=False, log=lambda line: None)
    assert result["export"] == str(tmp_path / "models" / "classifiers" / "tiny_judge.keras")
    from soundtransform.methods.classifier import load_classifier

    assert load_classifier(result["export"]).spectrogram_shape[:2] == (32, 32)
    with open(tmp_path / "models" / "classifiers" / "tiny_judge.json", encoding="utf-8") as f:
        summary = json.load(f)
    assert summary["role"] == "tiny_judge" and summary["recipe"]["stage"] == "train"
    assert sorted(summary["training_data"]["instruments"]["train"]) == ["flute", "keyboard", "reed"]
    assert not [text for text in strings(summary) if text.startswith("/")]
