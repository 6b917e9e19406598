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
