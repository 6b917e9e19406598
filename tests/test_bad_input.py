"""Bad input through the real `soundtransform` command: the table in docs/bad_input.md.

Each case runs the CLI in a subprocess and checks the exit status, that stderr
is one line naming the problem (no traceback), and that nothing the user had
was clobbered.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, assert_one_line_error, make_tone, run_cli
from soundtransform import export, pipeline, registry
from test_export import tiny_generator

SR = 16000


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("models"))
    export.export_generator(tiny_generator(), "tiny", {"method": "test", "source": "flute", "target": "keyboard"},
                            base_dir=base)
    return base


def _make(tmp, kind):
    """Create the input of one bad-input case; returns its path."""
    p = os.path.join(tmp, f"{kind}.wav")
    tone = make_tone(440.0, seconds=0.5)
    if kind == "missing":
        return p
    if kind == "folder":
        os.makedirs(p)
        return p
    if kind == "empty":
        open(p, "wb").close()
    elif kind == "zero-length":
        sf.write(p, np.zeros(0, np.float32), SR)
    elif kind == "truncated":
        sf.write(p, tone, SR)
        with open(p, "r+b") as f:
            f.truncate(30)
    elif kind == "non-audio":
        with open(p, "wb") as f:
            f.write(np.random.default_rng(0).bytes(4096))
    elif kind == "text":
        p = os.path.join(tmp, "notes.txt")
        with open(p, "w") as f:
            f.write("la la la\n")
    elif kind == "one-sample":
        sf.write(p, np.array([0.5], np.float32), SR)
    elif kind == "silent":
        sf.write(p, np.zeros(SR, np.float32), SR)
    elif kind == "nan":
        y = tone.copy()
        y[10] = np.nan
        sf.write(p, y, SR, subtype="FLOAT")
    elif kind == "inf":
        y = tone.copy()
        y[10] = np.inf
        sf.write(p, y, SR, subtype="FLOAT")
    elif kind == "pcm8":
        sf.write(p, tone, SR, subtype="PCM_U8")
    elif kind == "pcm24":
        sf.write(p, tone, SR, subtype="PCM_24")
    elif kind == "96k":
        sf.write(p, make_tone(440.0, seconds=0.5, sample_rate=96000), 96000)
    elif kind == "6-channel":
        sf.write(p, np.tile(tone[:, None], (1, 6)), SR)
    elif kind == "two-hours":
        # A real WAV header for 2 h at 8 kHz, 8-bit; the data is a sparse hole.
        with sf.SoundFile(p, "w", 8000, 1, subtype="PCM_U8") as f:
            f.write(np.zeros(8000, np.float32))
        size = 2 * 3600 * 8000
        with open(p, "r+b") as f:
            f.truncate(44 + size)
            f.seek(4)
            f.write((36 + size).to_bytes(4, "little"))
            f.seek(40)
            f.write(size.to_bytes(4, "little"))
    else:
        raise AssertionError(kind)
    return p


# kind, expected exit status, words the one-line error must contain (None: it converts)
CASES = [
    ("missing", 1, "no such file"),
    ("folder", 1, "holds no audio files"),
    ("empty", 1, "is empty"),
    ("zero-length", 1, "no audio samples"),
    ("truncated", 1, "cannot"),
    ("non-audio", 1, "cannot read"),
    ("text", 1, "cannot read"),
    ("silent", 1, "is silent"),
    ("nan", 1, "NaN or infinite"),
    ("inf", 1, "NaN or infinite"),
    ("two-hours", 1, "limit is 1200 s"),
    ("one-sample", 0, None),
    ("pcm8", 0, None),
    ("pcm24", 0, None),
    ("96k", 0, None),
    ("6-channel", 0, None),
]


@pytest.mark.parametrize("kind, code, words", CASES, ids=[c[0] for c in CASES])
def test_convert_input(models, tmp_path, kind, code, words):
    src = _make(str(tmp_path), kind)
    out = tmp_path / "out.wav"
    env_result = run_cli("convert", src, out, "--model", os.path.join(models, "tiny"))
    if words is None:
        assert env_result.returncode == 0, env_result.stderr
        info = sf.info(str(out))
        assert info.channels == 1 and info.samplerate == sf.info(src).samplerate
        assert info.frames == sf.info(src).frames
    else:
        assert_one_line_error(env_result, code, words)
        assert not out.exists()
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == [], "temporary files left behind"


def test_usage_errors(models, tmp_path, dataset):
    src = _make(str(tmp_path), "pcm24")
    tiny = os.path.join(models, "tiny")
    assert_one_line_error(run_cli("convert", src, tmp_path / "o.wav", "--method", "fast"), 2, "unknown method")
    assert_one_line_error(run_cli("convert", src, tmp_path / "o.wav", "--model", "no_such_model"), 2, "no_such_model")
    assert_one_line_error(run_cli("convert", src, tmp_path / "o.mp3", "--model", tiny), 2, "must end in")
    assert_one_line_error(run_cli("train", "--method", "cgan", "--data", dataset, "--source", "drums",
                                   "--target", "keyboard", "--preset", "tiny", "--run-dir", tmp_path / "r"),
                           2, "unknown family")
    assert_one_line_error(run_cli("train", "--method", "cyclegan", "--data", dataset, "--source", "flute",
                                   "--target", "keyboard", "--preset", "tiny", "--run-dir", tmp_path / "c",
                                   "--set", "pitch_width=8"),
                           2, "pitch_width must be an odd whole number")
    assert not (tmp_path / "c").exists()
    assert_one_line_error(run_cli("data", "render", "--out", tmp_path / "d", "--soundfont", "Piano.sf2"), 2,
                           "unknown SoundFont")


def test_export_input_peak_db_is_checked(tmp_path):
    path = str(tmp_path / "generator.keras")
    tiny_generator().save(path)
    models = tmp_path / "m"
    for bad in ("3", "loud"):
        assert_one_line_error(run_cli("export", path, "--name", "t", "--models-dir", models, "--input-peak-db", bad),
                              2, "input_peak_db")
    assert not (models / "t").exists()
    result = run_cli("export", path, "--name", "t", "--models-dir", models, "--input-peak-db", "none")
    assert result.returncode == 0, result.stderr[-2000:]
    assert registry.read_metadata(str(models / "t" / "1"))["input_peak_db"] is None
    result = run_cli("export", path, "--name", "t", "--models-dir", models)
    assert result.returncode == 0, result.stderr[-2000:]
    assert registry.read_metadata(str(models / "t" / "2"))["input_peak_db"] == pipeline.DEFAULT_INPUT_PEAK_DB
    listed = run_cli("models", "--models-dir", models)
    assert "inputs scaled to a" in listed.stdout, listed.stdout


def test_wrong_kind_of_model(tmp_path):
    import keras

    from soundtransform.networks.vgg19_audio import VGG19AudioClassifier

    path = str(tmp_path / "classifier.keras")
    VGG19AudioClassifier(input_shape=(32, 32, 1), width=1 / 16, dense_units=8).save(path)
    src = _make(str(tmp_path), "pcm24")
    result = run_cli("convert", src, tmp_path / "o.wav", "--model", path)
    assert result.returncode in (1, 2)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in result.stderr
    assert not (tmp_path / "o.wav").exists()
    del keras


def test_outputs(models, tmp_path):
    src = _make(str(tmp_path), "pcm24")
    tiny = os.path.join(models, "tiny")
    assert_one_line_error(run_cli("convert", src, tmp_path / "missing" / "o.wav", "--model", tiny), 1,
                           "does not exist")
    existing = tmp_path / "existing.wav"
    existing.write_bytes(b"the user's file")
    assert_one_line_error(run_cli("convert", src, existing, "--model", tiny), 1, "already exists")
    assert existing.read_bytes() == b"the user's file"
    readonly = "/sys/soundtransform-test.wav"
    if os.path.isdir("/sys") and not os.access("/sys", os.W_OK):
        assert_one_line_error(run_cli("convert", src, readonly, "--model", tiny), 1, "not writable")


# Input checks come before TensorFlow's import: a typo costs a fraction of a second, not the 5-7 s of
# starting TensorFlow (measured: `convert missing.wav` 6.8 s before, 0.36 s after).
_NO_TENSORFLOW = """
import sys
sys.argv = ["soundtransform", *sys.argv[1:]]
import cli
try:
    cli.cli()
except SystemExit as exc:
    print(exc.code, "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("case", ["missing input", "output exists", "output format", "slow without style",
                                  "missing style", "no dataset", "slow option for a model"])
def test_bad_input_is_reported_before_tensorflow_starts(models, tmp_path, case):
    src = _make(str(tmp_path), "pcm24")
    existing = tmp_path / "existing.wav"
    existing.write_bytes(b"the user's file")
    args = {
        "missing input": ["convert", tmp_path / "missing.wav", tmp_path / "o.wav"],
        "output exists": ["convert", src, existing],
        "output format": ["convert", src, tmp_path / "o.mp3"],
        "slow without style": ["convert", src, tmp_path / "o.wav", "--method", "slow"],
        "missing style": ["convert", src, tmp_path / "o.wav", "--method", "slow", "--style", tmp_path / "no.wav"],
        "slow option for a model": ["convert", src, tmp_path / "o.wav", "--energy-bands", "8"],
        "no dataset": ["train", "--method", "cgan", "--data", tmp_path / "no-data", "--source", "flute",
                       "--target", "keyboard", "--run-dir", tmp_path / "run"],
    }[case]
    result = subprocess.run([sys.executable, "-c", _NO_TENSORFLOW, *map(str, args)], capture_output=True,
                            text=True, cwd=ROOT, timeout=120, env={**os.environ, "CI": "1"})
    code, imported = result.stdout.split()[-2:]
    assert code in ("1", "2") and result.stderr.startswith("Error:"), (result.stdout, result.stderr)
    assert imported == "False", f"{case}: TensorFlow was imported before the error: {result.stderr}"
    assert existing.read_bytes() == b"the user's file" and not (tmp_path / "run").exists()
