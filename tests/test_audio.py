import os

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from conftest import make_tone
from soundtransform import audio
from soundtransform.errors import DataError, ParameterError


def test_constants_suit_conv_nets():
    assert audio.N_FREQ == 256 and audio.IMAGE_FRAMES == 256
    assert audio.samples_to_frames(audio.frames_to_samples(audio.IMAGE_FRAMES)) == audio.IMAGE_FRAMES
    # A NSynth note fits one window.
    assert audio.frames_to_samples(audio.IMAGE_FRAMES) >= audio.NOTE_SECONDS * audio.SAMPLE_RATE


def test_image_shape_and_range(notes):
    y = audio.load(notes[0].path)
    image, phase = audio.waveform_to_image(y)
    frames = audio.samples_to_frames(len(y))
    assert image.shape == (audio.N_FREQ, frames, 1)
    assert phase.shape == (frames, audio.N_FFT // 2 + 1)
    values = image.numpy()
    assert values.min() >= -1.0 and values.max() <= 1.0
    assert values.max() > -0.5, "a real note must rise well above the floor"


def test_full_scale_sine_peaks_at_0_db():
    y = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000).astype(np.float32)
    image, _ = audio.waveform_to_image(y)
    assert abs(float(tf.reduce_max(image)) - 1.0) < 0.01


@pytest.mark.parametrize("family", ["flute", "keyboard"])
def test_source_phase_round_trip(notes, family):
    note = next(n for n in notes if n.family == family)
    y = audio.load(note.path)
    image, phase = audio.waveform_to_image(y)
    y2 = audio.image_to_waveform(image, len(y), phase="source", source_phase=phase).numpy()
    assert audio.snr_db(y, y2) >= 30.0


def test_griffin_lim_converges(notes):
    note = next(n for n in notes if n.family == "flute")
    y = audio.load(note.path)
    image, _ = audio.waveform_to_image(y)
    magnitude = audio.image_to_magnitude(image)
    untrained = audio.spectral_convergence(magnitude, audio.griffin_lim(magnitude, len(y), n_iter=0))
    converged = audio.spectral_convergence(magnitude, audio.griffin_lim(magnitude, len(y), n_iter=32))
    assert converged < 0.2
    assert converged < untrained / 3


def test_griffin_lim_from_source_phase_is_near_exact(notes):
    y = audio.load(notes[0].path)
    image, phase = audio.waveform_to_image(y)
    y2 = audio.image_to_waveform(image, len(y), phase="griffin-lim", source_phase=phase, n_iter=4)
    assert audio.spectral_convergence(audio.image_to_magnitude(image), y2) < 0.01


def test_narrow_image_inverts_with_silent_upper_bins():
    y = make_tone(220.0, seconds=1.0)
    image, phase = audio.waveform_to_image(y, freq_bins=64)
    assert image.shape[0] == 64
    y2 = audio.image_to_waveform(image, len(y), phase="source", source_phase=phase).numpy()
    # 220 Hz with 4 harmonics lies below bin 64 (2 kHz): little is lost.
    assert audio.snr_db(y, y2) > 20.0


def test_unknown_phase_is_a_parameter_error():
    with pytest.raises(ParameterError, match="griffin-lim"):
        audio.image_to_waveform(tf.zeros([8, 4, 1]), 100, phase="magic")


def test_load_resamples_and_mixes_down(tmp_path):
    y = make_tone(440.0, seconds=1.0, sample_rate=44100)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([y, y], axis=1), 44100, subtype="PCM_24")
    out = audio.load(path)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - 16000) <= 1
    assert abs(np.max(np.abs(out)) - np.max(np.abs(y))) < 0.05 * np.max(np.abs(y))


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "FLOAT"])
def test_load_reads_sample_formats(tmp_path, subtype):
    y = make_tone(330.0, seconds=0.5)
    path = tmp_path / "x.wav"
    sf.write(path, y, 16000, subtype=subtype)
    out = audio.load(path)
    tolerance = 0.02 if subtype == "PCM_U8" else 1e-3
    assert np.max(np.abs(out - y)) < tolerance


def _bad_files(tmp_path):
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio\n")
    good = tmp_path / "good.wav"
    sf.write(good, make_tone(seconds=0.5), 16000)
    (tmp_path / "truncated.wav").write_bytes(good.read_bytes()[:30])
    (tmp_path / "random.wav").write_bytes(np.random.default_rng(0).bytes(5000))
    nan = make_tone(seconds=0.5)
    nan[100] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), 16000)
    return {
        "missing": (tmp_path / "missing.wav", "no such file"),
        "folder": (tmp_path / "folder.wav", "is a folder"),
        "empty": (tmp_path / "empty.wav", "is empty"),
        "text": (tmp_path / "text.wav", "cannot read"),
        "truncated": (tmp_path / "truncated.wav", "cannot|no audio"),
        "random": (tmp_path / "random.wav", "cannot read"),
        "nan": (tmp_path / "nan.wav", "NaN"),
        "zero-length": (tmp_path / "zero.wav", "no audio samples"),
    }


@pytest.mark.parametrize(
    "kind", ["missing", "folder", "empty", "text", "truncated", "random", "nan", "zero-length"]
)
def test_load_bad_input_raises_data_error(tmp_path, kind):
    path, message = _bad_files(tmp_path)[kind]
    with pytest.raises(DataError, match=message):
        audio.load(path)


def test_load_silent_and_too_long(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(16000, np.float32), 16000)
    assert audio.load(path).shape == (16000,)
    with pytest.raises(DataError, match="silent"):
        audio.load(path, require_sound=True)
    with pytest.raises(DataError, match="limit"):
        audio.load(path, max_seconds=0.5)


def test_save_is_atomic_and_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "out.wav"
    audio.save(path, make_tone(seconds=0.25))
    before = path.read_bytes()
    with pytest.raises(ParameterError, match="cannot write audio"):
        audio.save(tmp_path / "out.xyz", make_tone())
    with pytest.raises(DataError, match="does not exist"):
        audio.save(tmp_path / "missing" / "out.wav", make_tone())
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.wav"]
    audio.save(path, make_tone(seconds=0.5))
    assert len(sf.read(path)[0]) == 8000
    assert sorted(os.listdir(tmp_path)) == ["out.wav"]


def test_as_written_is_what_a_saved_wav_holds(tmp_path):
    rng = np.random.default_rng(0)
    clips = (rng.normal(size=(3, 4000)) * np.array([[1e-4], [0.1], [2.0]])).astype(np.float32)
    written = audio.as_written(clips)
    for clip, got in zip(clips, written):
        audio.save(tmp_path / "x.wav", clip)
        np.testing.assert_array_equal(got, audio.load(tmp_path / "x.wav"))
    assert np.max(np.abs(written[:2] - clips[:2])) <= 1.0 / 32767  # 16-bit steps ...
    np.testing.assert_array_equal(written * 32768, np.round(written * 32768))  # every sample a 16-bit step
    assert np.max(np.abs(written[2])) <= 1.0  # clipped like save
    assert audio.as_written(np.zeros((0, 10), np.float32)).shape == (0, 10)


@pytest.mark.parametrize("ext, subtype, bits", [(".wav", "PCM_16", 16), (".flac", "PCM_16", 16), (".wav", "PCM_24", 24)])
def test_save_rounds_to_the_nearest_step_without_bias(tmp_path, ext, subtype, bits):
    step = 2.0 ** -(bits - 1)
    fractions = np.array([0.4, 0.6, -0.4, -0.6, 0.0, 2.4, -2.6])
    path = tmp_path / f"x{ext}"
    audio.save(path, (fractions * step).astype(np.float64), subtype=subtype)
    got = audio.load(path)
    np.testing.assert_array_equal(np.rint(got / step), [0, 1, 0, -1, 0, 2, -3])
    # A quiet noise floor keeps its mean: rounding toward minus infinity would shift it by half a step.
    rng = np.random.default_rng(1)
    floor = (rng.normal(size=16000) * 0.7 * step).astype(np.float32)
    audio.save(path, floor, subtype=subtype)
    assert abs(np.mean(audio.load(path)) / step) < 0.02
    # What `load` returns is saved back bit for bit, and full scale stays in range.
    loud = rng.uniform(-1.2, 1.2, 4000).astype(np.float32)
    audio.save(path, loud, subtype=subtype)
    first = audio.load(path)
    audio.save(path, first, subtype=subtype)
    np.testing.assert_array_equal(audio.load(path), first)
    assert first.max() == 1.0 - step and first.min() == -1.0
