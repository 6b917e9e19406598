import os

import numpy as np
import pytest
import soundfile as sf

from conftest import assert_one_line_error, make_tone, run_cli


def test_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("data", "spectrogram"):
        assert command in result.stdout


def test_data_render_and_info(tmp_path):
    out = tmp_path / "ds"
    result = run_cli("data", "render", "--out", out, "--families", "flute", "--pitches", "60,72",
                     "--velocities", "100", "--soundfont", "TimGM6mb")
    assert result.returncode == 0, result.stderr
    assert "notes in" in result.stdout and "x real time" in result.stdout
    wavs = [f for split in ("train", "valid", "test") for f in os.listdir(out / f"nsynth-{split}" / "audio")]
    assert len(wavs) == 16 and all(f.startswith("flute_acoustic_") for f in wavs)
    info = run_cli("data", "info", out)
    assert info.returncode == 0 and "flute" in info.stdout


def test_spectrogram_png(tmp_path, notes):
    png = tmp_path / "note.png"
    result = run_cli("spectrogram", notes[0].path, png)
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(png) > 10_000


@pytest.mark.parametrize(
    "kind, code, pattern",
    [
        ("missing", 1, "no such file"),
        ("folder", 1, "is a folder"),
        ("empty", 1, "is empty"),
        ("text", 1, "cannot read"),
        ("silent", 1, "silent"),
        ("zero", 1, "no audio samples"),
    ],
)
def test_spectrogram_bad_input(tmp_path, kind, code, pattern):
    inputs = {
        "missing": tmp_path / "missing.wav",
        "folder": tmp_path,
        "empty": tmp_path / "empty.wav",
        "text": tmp_path / "text.wav",
        "silent": tmp_path / "silent.wav",
        "zero": tmp_path / "zero.wav",
    }
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("hello")
    sf.write(tmp_path / "silent.wav", np.zeros(8000, np.float32), 16000)
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), 16000)
    png = tmp_path / "keep.png"
    png.write_bytes(b"previous")
    assert_one_line_error(run_cli("spectrogram", inputs[kind], png), code, pattern)
    assert png.read_bytes() == b"previous"


def test_unwritable_output_and_bad_usage(tmp_path):
    wav = tmp_path / "tone.wav"
    sf.write(wav, make_tone(seconds=0.5), 16000)
    assert_one_line_error(run_cli("spectrogram", wav, tmp_path / "no" / "x.png"), 1, "does not exist")
    assert_one_line_error(run_cli("spectrogram", wav, tmp_path / "x.jpg"), 2, ".png")
    assert_one_line_error(run_cli("data", "render", "--out", tmp_path / "d", "--soundfont", "Nope"), 2, "unknown SoundFont")
    assert_one_line_error(run_cli("data", "render", "--out", tmp_path / "d", "--families", "drums"), 2, "unknown family")
    assert_one_line_error(run_cli("data", "render", "--out", tmp_path / "d", "--pitches", "a-b"), 2, "cannot read")
