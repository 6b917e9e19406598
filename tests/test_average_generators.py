"""benchmarks/average_generators.py: the weighted mean of two exported generators, exported as a new model."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from soundtransform import export
from test_export import OVERLAP, identity_generator, tiny_generator

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "average_generators.py")


def run_script(*args, cwd):
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def two_exports(tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    meta = {"method": "test", "source": "flute", "target": "keyboard", "preset": "tiny"}
    a = export.export_generator(tiny_generator(seed=0), "a", meta, base_dir=str(base), overlap=OVERLAP)
    b = export.export_generator(tiny_generator(seed=1), "b", meta, base_dir=str(base), overlap=OVERLAP)
    other = export.export_generator(identity_generator(), "other", meta, base_dir=str(base), overlap=OVERLAP)
    return {"base": base, "a": a, "b": b, "other": other}


def generator_weights(version_dir):
    return export.load_generator(os.path.join(version_dir, "assets", export.GENERATOR_ASSET)).get_weights()


def test_weighted_mean_is_exported_with_its_sources(two_exports):
    base = two_exports["base"]
    result = run_script(two_exports["a"], two_exports["b"], "--name", "soup", "--weight", "0.25",
                        "--base-dir", str(base / "soups"), cwd=str(base))
    assert result.returncode == 0, result.stderr
    version_dir = result.stdout.strip().splitlines()[-1]
    assert version_dir == str(base / "soups" / "soup" / "1")
    wa, wb, mean = (generator_weights(d) for d in (two_exports["a"], two_exports["b"], version_dir))
    assert any(not np.allclose(x, y) for x, y in zip(wa, wb))  # the two really differ
    for x, y, m in zip(wa, wb, mean):
        np.testing.assert_allclose(m, 0.25 * x + 0.75 * y, rtol=1e-5, atol=1e-6)
    with open(os.path.join(version_dir, "assets", "soundtransform.json"), encoding="utf-8") as f:
        meta = json.load(f)
    # the sources are named relative to the working folder, so no machine's paths are shipped
    assert meta["averaged_from"] == {"a/1": 0.25, "b/1": 0.75}
    assert meta["method"] == "test" and meta["name"] == "soup"


def test_different_architectures_and_bad_weight_are_one_line_errors(two_exports):
    base = two_exports["base"]
    result = run_script(two_exports["a"], two_exports["other"], "--name", "bad", "--base-dir", str(base / "x"),
                        cwd=str(base))
    assert result.returncode != 0
    assert "different architectures" in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists(base / "x" / "bad")
    result = run_script(two_exports["a"], two_exports["b"], "--name", "bad", "--weight", "1.5", cwd=str(base))
    assert result.returncode == 2 and "--weight must be in [0, 1]" in result.stderr


def test_valid_split_chooses_the_weight(two_exports, tmp_path):
    """--valid scores each weight on valid-split notes and phrase windows and exports the best one."""
    from soundtransform import phrases
    from soundtransform.render import render_dataset

    root = str(tmp_path / "data")
    render_dataset(root, families=["flute"], pitches=(60, 67), velocities=(100,), progress=False)
    phrases.render_phrases(root, melodies=1, soundfonts=["TimGM6mb"], families=["flute"], progress=False)
    result = run_script(two_exports["a"], two_exports["b"], "--name", "chosen", "--valid", root, "--weights", "0,1",
                        "--select-notes", "3", "--base-dir", str(tmp_path / "soups"), cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line.startswith("| 0 |") or line.startswith("| 1 |")]
    assert len(rows) == 2, result.stdout
    assert lines[0].startswith(f"valid split of {root}: 3 notes, ")
    best = float(next(line for line in lines if line.startswith("best: weight ")).split()[-1])
    assert best in (0.0, 1.0)
    chosen = generator_weights(lines[-1])
    expected = generator_weights(two_exports["a"] if best == 1.0 else two_exports["b"])
    for x, y in zip(chosen, expected):
        np.testing.assert_allclose(x, y, rtol=1e-6)
    result = run_script(two_exports["a"], two_exports["b"], "--name", "bad", "--valid", root, "--weights", "0,x",
                        cwd=str(tmp_path))
    assert result.returncode == 2 and "--weights must be numbers" in result.stderr
