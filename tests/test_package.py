"""The package as a user installs it: a wheel holds the shipped models and finds them."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from soundtransform import registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the source tree (the checkout is left as it is)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__",
                                                                  ".pytest_cache", "runs", "data", "out"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(work / "dist"), str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    (path,) = (work / "dist").glob("soundtransform-*.whl")
    return path


def test_wheel_holds_the_default_model_and_the_judge(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    default = registry.find_version(registry.DEFAULT_MODEL, registry.shipped_models_dir())
    version = os.path.relpath(default, registry.shipped_models_dir())
    for part in ("saved_model.pb", "variables/variables.index", f"assets/{registry.METADATA_FILE}"):
        assert f"soundtransform/exported_models/{version}/{part}" in names, part
    for role in ("judge", "perceptual", "phrase_judge"):
        assert f"soundtransform/exported_models/classifiers/{role}.keras" in names, role
    assert "cli.py" in names and "soundtransform/pipeline.py" in names


def test_installed_package_finds_its_models_outside_the_source_tree(wheel, tmp_path):
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                             "--target", str(site), str(wheel)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    probe = ("import soundtransform, os\n"
             "from soundtransform import registry\n"
             "from soundtransform.methods import classifier\n"
             "print(os.path.dirname(soundtransform.__file__))\n"
             "print(registry.find_version(registry.DEFAULT_MODEL))\n"
             "print(classifier.default_path('judge'))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("SOUNDTRANSFORM_MODELS", "SOUNDTRANSFORM_DEFAULT_MODEL")}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=str(tmp_path),
                            env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    package, default, judge = result.stdout.split()
    assert package == str(site / "soundtransform")
    assert default.startswith(str(site / "soundtransform" / "exported_models" / registry.DEFAULT_MODEL))
    assert os.path.isfile(os.path.join(default, "saved_model.pb"))
    assert judge.startswith(str(site)) and os.path.isfile(judge)
