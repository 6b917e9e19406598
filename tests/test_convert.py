import os
import re

import keras
import numpy as np
import pytest
import soundfile as sf

import soundtransform
from conftest import make_tone, run_cli
from soundtransform import audio, convert, export, losses, notes, registry
from soundtransform.errors import DataError, ParameterError
from test_export import identity_generator, note_like, tiny_generator


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A models folder with a tiny model (a cgan's, to `convert`) and an identity model."""
    base = str(tmp_path_factory.mktemp("models"))
    export.export_generator(tiny_generator(), "tiny", {"method": "cgan", "source": "flute", "target": "keyboard"},
                            base_dir=base)
    export.export_generator(identity_generator(), "identity", {"method": "identity"}, base_dir=base,
                            upper_bins="source")
    return base


@pytest.fixture
def env_models(models, monkeypatch):
    monkeypatch.setenv("SOUNDTRANSFORM_MODELS", models)
    return models


def _write(path, y, rate):
    sf.write(str(path), y, rate)
    return str(path)


def test_long_stereo_44k_file(env_models, tmp_path):
    y = note_like(10.0, sample_rate=44100)
    src = _write(tmp_path / "in.wav", np.stack([y, 0.5 * y], axis=1), 44100)
    out = soundtransform.convert_file(src, str(tmp_path / "out.wav"), model="tiny", png=True)
    info = sf.info(out)
    assert (info.samplerate, info.frames, info.channels) == (44100, 441000, 1)
    z, _ = sf.read(out, dtype="float32")
    assert np.all(np.isfinite(z)) and np.max(np.abs(z)) > 0.01
    png = tmp_path / "out.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 10_000


def test_short_file_and_identity_round_trip(env_models, tmp_path):
    y = make_tone(330.0, seconds=0.5)
    src = _write(tmp_path / "short.flac", y, audio.SAMPLE_RATE)
    (tmp_path / "out").mkdir()
    out = convert.convert_file(src, str(tmp_path / "out"), model="identity")  # a folder: named after the input
    assert out == str(tmp_path / "out" / "short.flac")
    z, rate = sf.read(out, dtype="float32")
    assert rate == audio.SAMPLE_RATE and z.shape == y.shape
    assert audio.snr_db(y, z) >= 30.0


def test_python_api_any_rate(env_models):
    model = soundtransform.load_model("tiny")
    assert model.name == "tiny" and model.metadata["source"] == "flute" and "tiny" in repr(model)
    y = note_like(1.3, sample_rate=22050)
    z = model.convert(y, sample_rate=22050)
    assert z.shape == y.shape and z.dtype == np.float32 and np.all(np.isfinite(z))
    stereo = model.convert(np.stack([y, y], axis=1), sample_rate=22050)
    assert np.max(np.abs(stereo - z)) < 1e-5
    images = model.transform_images(np.zeros([2, 32, 32, 1], np.float32))
    assert images.shape == (2, 32, 32, 1)
    with pytest.raises(DataError, match="NaN"):
        model.convert(np.full(1000, np.nan))
    with pytest.raises(DataError, match="rejected its input: image values"):
        model.transform_images(np.full([1, 32, 8, 1], 5.0, np.float32))


def test_keras_file_and_run_folder_load_without_export(tmp_path):
    path = str(tmp_path / "generator.keras")
    tiny_generator().save(path)
    model = convert.load_model(path)
    y = note_like(0.8)
    assert model.convert(y).shape == y.shape
    exported = convert.load_model(export.export_generator(keras.saving.load_model(path), "t", {},
                                                          base_dir=str(tmp_path / "m")))
    assert np.max(np.abs(model.convert(y) - exported.convert(y))) <= 1e-4


def test_folder_batches_like_single_files(env_models, tmp_path):
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    for i, seconds in enumerate([1.0, 1.0, 1.0, 2.5]):
        _write(in_dir / f"note{i}.wav", note_like(seconds, seed=i), audio.SAMPLE_RATE)
    (in_dir / "broken.wav").write_text("not audio")
    (in_dir / "readme.txt").write_text("ignored")
    result = convert.convert_folder(str(in_dir), str(out_dir), model="tiny", batch_size=2, progress=False)
    assert sorted(os.listdir(out_dir)) == [f"note{i}.wav" for i in range(4)]
    assert [os.path.basename(p) for p, _ in result["failed"]] == ["broken.wav"]
    assert "cannot read" in result["failed"][0][1]
    alone = convert.convert_file(str(in_dir / "note1.wav"), str(tmp_path / "alone.wav"), model="tiny")
    batched, _ = sf.read(out_dir / "note1.wav", dtype="float32")
    single, _ = sf.read(alone, dtype="float32")
    assert np.max(np.abs(batched - single)) <= 2.0 / 32768  # one PCM-16 step


def test_errors_name_the_problem(env_models, tmp_path, monkeypatch):
    with pytest.raises(ParameterError, match=r"unknown model 'nope' in .*; available: (.*, )?identity, (.*, )?tiny"):
        convert.load_model("nope")
    monkeypatch.setenv("SOUNDTRANSFORM_DEFAULT_MODEL", "unshipped_default")
    with pytest.raises(ParameterError, match="default model 'unshipped_default' is not exported yet"):
        convert.load_model()
    inputs = keras.Input((32, 32, 1))
    classifier = keras.Model(inputs, keras.layers.Dense(11)(keras.layers.GlobalAveragePooling2D()(inputs)))
    classifier.save(tmp_path / "classifier.keras")
    with pytest.raises(ParameterError, match="not a spectrogram generator"):
        convert.load_model(str(tmp_path / "classifier.keras"))
    src = _write(tmp_path / "a.wav", make_tone(), 16000)
    with pytest.raises(ParameterError, match="needs a style sound"):
        convert.convert_file(src, str(tmp_path / "y.wav"), method="slow")
    with pytest.raises(ParameterError, match="method"):
        convert.convert_file(src, str(tmp_path / "y.wav"), method="fast")
    with pytest.raises(ParameterError, match="must end in"):
        convert.convert_file(src, str(tmp_path / "a.mp3"), model="tiny")


def test_existing_output_is_never_half_written(env_models, tmp_path):
    out = tmp_path / "out.wav"
    good = convert.convert_file(_write(tmp_path / "a.wav", make_tone(), 16000), str(out), model="tiny")
    before = out.read_bytes()
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + b"\0" * 40)
    with pytest.raises(DataError, match="cannot"):
        convert.convert_file(str(bad), good, model="tiny", overwrite=True)
    assert out.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["a.wav", "bad.wav", "out.wav"], "no temporary files left"
    with pytest.raises(DataError, match="already exists; pass --overwrite"):
        convert.convert_file(str(tmp_path / "a.wav"), good, model="tiny")
    assert out.read_bytes() == before
    convert.convert_file(_write(tmp_path / "b.wav", make_tone(seconds=0.5), 16000), good, model="tiny", overwrite=True)
    assert sf.info(good).frames == 8000


def test_folder_convert_keeps_existing_outputs_and_resumes(env_models, tmp_path):
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    for k in range(3):
        _write(in_dir / f"n{k}.wav", make_tone(220.0 * (k + 1), seconds=0.5), 16000)
    out_dir.mkdir()
    (out_dir / "n1.wav").write_bytes(b"finished before")
    result = convert.convert_folder(str(in_dir), str(out_dir), model="tiny", progress=False)
    assert [os.path.basename(p) for p in result["kept"]] == ["n1.wav"]
    assert sorted(os.path.basename(p) for p in result["converted"]) == ["n0.wav", "n2.wav"]
    assert (out_dir / "n1.wav").read_bytes() == b"finished before"
    again = convert.convert_folder(str(in_dir), str(out_dir), model="tiny", progress=False, overwrite=True)
    assert len(again["converted"]) == 3 and sf.info(str(out_dir / "n1.wav")).frames == 8000


def test_slow_method_through_convert(tmp_path):
    from soundtransform.networks.vgg19_audio import VGG19AudioClassifier

    classifier = VGG19AudioClassifier(num_classes=11, input_shape=(32, 32, 1), width=1 / 16, dense_units=16)
    content = _write(tmp_path / "content.wav", make_tone(262.0, seconds=0.6), audio.SAMPLE_RATE)
    style = _write(tmp_path / "style.wav", make_tone(392.0, seconds=0.6, harmonics=8), audio.SAMPLE_RATE)
    out = convert.convert_file(content, str(tmp_path / "out.wav"), method="slow", style=style,
                               classifier=classifier, preset="tiny", steps=2)
    z, rate = sf.read(out, dtype="float32")
    assert rate == audio.SAMPLE_RATE and len(z) == int(0.6 * audio.SAMPLE_RATE) and np.all(np.isfinite(z))
    # The banded energy constraint (`energy_bands`, `convert --energy-bands`) pulls harder toward the style's envelopes.
    banded = convert.convert_file(content, str(tmp_path / "banded.wav"), method="slow", style=style,
                                  classifier=classifier, preset="tiny", steps=8, gamma=30.0, energy_bands=16)
    plain = convert.convert_file(content, str(tmp_path / "plain.wav"), method="slow", style=style,
                                 classifier=classifier, preset="tiny", steps=8, gamma=30.0, energy_bands=1)
    target = losses.temporal_envelope(audio.waveform_to_image(sf.read(style, dtype="float32")[0])[0][None], 16)

    def distance(path):
        image = audio.waveform_to_image(sf.read(path, dtype="float32")[0])[0][None]
        return float(np.abs(losses.temporal_envelope(image, 16) - target).mean())

    assert distance(banded) < distance(plain)


def test_cli_convert_folder_models_and_errors(env_models, tmp_path):
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    for i in range(3):
        _write(in_dir / f"n{i}.wav", note_like(0.7, seed=i), audio.SAMPLE_RATE)
    result = run_cli("convert", in_dir, tmp_path / "out", "--model", "tiny", "--png")
    assert result.returncode == 0, result.stderr
    assert "wrote 3 files" in result.stdout
    assert sorted(os.listdir(tmp_path / "out")) == ["n0.png", "n0.wav", "n1.png", "n1.wav", "n2.png", "n2.wav"]
    result = run_cli("convert", in_dir / "n0.wav", tmp_path / "x.wav", "--model", "nope")
    assert result.returncode == 2 and result.stderr.startswith("Error: unknown model 'nope'")
    assert re.search(r"available: (.*, )?identity, (.*, )?tiny", result.stderr) and "Traceback" not in result.stderr
    result = run_cli("models")
    assert result.returncode == 0 and "tiny: cgan, flute -> keyboard" in result.stdout


def test_user_models_come_before_shipped_ones(env_models):
    entries = soundtransform.list_models()
    mine = [e for e in entries if not e["shipped"]]
    assert [e["name"] for e in mine] == ["identity", "tiny"]
    assert all(e["path"].startswith(env_models) for e in mine)
    assert registry.search_dirs()[0] == env_models and registry.search_dirs()[-1] == registry.shipped_models_dir()
    assert registry.find_version("tiny") == os.path.join(env_models, "tiny", "1")


def _melody():
    """Three decaying tones starting at 0, 0.6 and 1.3 s, then 0.4 s of silence; 16 kHz."""
    notes = [make_tone(f, seconds=s, decay=3.0) for f, s in ((440.0, 0.6), (660.0, 0.7), (330.0, 0.8))]
    return np.concatenate(notes + [np.zeros(int(0.4 * audio.SAMPLE_RATE), np.float32)])


def test_note_by_note_converts_each_note_alone(env_models):
    y = _melody()
    bounds = convert.note_bounds(y)
    assert bounds[0][0] == 0 and bounds[-1][1] == y.size
    assert all(end == start for (_, end), (start, _) in zip(bounds, bounds[1:]))
    starts = [start / audio.SAMPLE_RATE for start, _ in bounds[1:]]
    for onset in (0.6, 1.3):  # each onset found within 50 ms (moved back to the energy minimum before it)
        assert min(abs(s - onset) for s in starts) < 0.05, starts
    model = soundtransform.load_model("tiny")
    each = convert.note_by_note(model)
    assert each.metadata["by_note"] and each.name == model.name
    out = each.convert_batch(y[None])[0]
    assert out.shape == y.shape and np.all(np.isfinite(out))
    fade = int(convert.NOTE_FADE_SECONDS * audio.SAMPLE_RATE)
    for start, end in bounds:  # away from the fades, each note is the model's output for that note alone (padded)
        alone = model.convert_batch(y[None, start:end])[0]
        np.testing.assert_allclose(out[start + fade:end - fade], alone[fade:end - start - fade], atol=1e-4)
    whole = model.convert_batch(y[None])[0]
    assert np.max(np.abs(whole - out)) > 1e-3  # the whole clip's conversion is another thing
    steady = make_tone(330.0, seconds=1.0, decay=0.0)  # one note: the whole clip, no fades
    assert convert.note_bounds(steady) == [(0, steady.size)]
    np.testing.assert_allclose(each.convert_batch(steady[None]), model.convert_batch(steady[None]), atol=1e-6)


def test_note_bounds_survive_a_noise_floor_and_a_room():
    y = _melody()
    end = int(2.1 * audio.SAMPLE_RATE)  # the last tone fades out instead of stopping with a click
    y[end - 320:end] *= np.linspace(1.0, 0.0, 320, dtype=np.float32)
    rng = np.random.default_rng(0)
    room = np.exp(-np.arange(int(0.3 * audio.SAMPLE_RATE)) / (0.05 * audio.SAMPLE_RATE)) * rng.normal(size=4800)
    wet = np.convolve(y, room.astype(np.float32))[: y.size]
    recorded = y + 0.2 * wet / np.max(np.abs(wet)) * np.max(np.abs(y))
    recorded = recorded + rng.normal(size=y.size) * np.max(np.abs(recorded)) * 10 ** (-35 / 20)  # 35 dB below peak
    for clip in (y, recorded.astype(np.float32)):
        starts = [start / audio.SAMPLE_RATE for start, _ in convert.note_bounds(clip)[1:]]
        assert len(starts) == 2 and all(abs(s - t) < 0.05 for s, t in zip(starts, (0.6, 1.3))), starts
    noise = (rng.normal(size=audio.SAMPLE_RATE * 2) * 0.01).astype(np.float32)  # noise alone has no notes
    assert convert.note_bounds(noise) == [(0, noise.size)]
    t = np.arange(2 * audio.SAMPLE_RATE) / audio.SAMPLE_RATE  # a held note with tremolo and vibrato is one note
    phase = 2 * np.pi * np.cumsum(440.0 * 2 ** (0.2 / 12 * np.sin(2 * np.pi * 5 * t))) / audio.SAMPLE_RATE
    held = (0.3 * (1 + 0.5 * np.sin(2 * np.pi * 5.5 * t)) * sum(np.sin(k * phase) / k for k in range(1, 5)))
    assert convert.note_bounds(held.astype(np.float32)) == [(0, t.size)]
    assert notes.is_melody(y) and not notes.is_melody(held.astype(np.float32))


def test_cli_converts_note_by_note_by_default(env_models, tmp_path):
    y = _melody()
    src = _write(tmp_path / "melody.wav", y, audio.SAMPLE_RATE)
    for name, flags in (("plain.wav", []), ("whole.wav", ["--whole"])):
        result = run_cli("convert", src, tmp_path / name, "--model", "tiny", *flags)
        assert result.returncode == 0, result.stderr
    plain, rate = sf.read(str(tmp_path / "plain.wav"), dtype="float32")
    whole, _ = sf.read(str(tmp_path / "whole.wav"), dtype="float32")
    assert rate == audio.SAMPLE_RATE and plain.shape == whole.shape == y.shape
    model = soundtransform.load_model("tiny")
    y16 = audio.load(src)
    np.testing.assert_allclose(plain, convert.note_by_note(model).convert_batch(y16[None])[0], atol=2e-4)
    np.testing.assert_allclose(whole, model.convert_batch(y16[None])[0], atol=2e-4)
    assert np.max(np.abs(plain - whole)) > 1e-3
    assert convert.converter_for("tiny").metadata.get("by_note")
    assert not convert.converter_for("identity").metadata.get("by_note")  # not a cgan or CycleGAN: whole
    result = run_cli("convert", src, tmp_path / "slow.wav", "--method", "slow", "--style", src, "--by-note")
    assert result.returncode == 2 and "--by-note is for models" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "slow.wav").exists()


def test_method_picks_its_model_for_the_direction(env_models, tmp_path):
    """``--method faster|cgan|cyclegan`` with ``--source``/``--target`` converts with that method's model."""
    from soundtransform.errors import ParameterError

    for method, source, target in (("cgan", "flute", "keyboard"), ("cyclegan", "keyboard", "flute")):
        name = convert.method_model(method, source, target)
        assert name == f"{method}_{source}_to_{target}"
        converter = convert.converter_for(method=method, source=source, target=target)
        assert (converter.name, converter.metadata["source"], converter.metadata["target"]) == (name, source, target)
    with pytest.raises(ParameterError, match=r"no faster model for keyboard -> flute; faster converts: flute -> keyboard"):
        convert.method_model("faster", "keyboard", "flute")
    src = _write(tmp_path / "note.wav", note_like(1.0), audio.SAMPLE_RATE)
    result = run_cli("convert", src, tmp_path / "out.wav", "--method", "cgan", "--source", "keyboard", "--target", "flute")
    assert result.returncode == 0, result.stderr[-2000:]
    out, rate = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert rate == audio.SAMPLE_RATE and out.shape == note_like(1.0).shape and np.max(np.abs(out)) > 1e-3
    for args, message in (
            (("--method", "faster", "--source", "keyboard", "--target", "flute"), "no faster model for keyboard -> flute"),
            (("--method", "cgan", "--model", "tiny"), "--method cgan picks its own model"),
            (("--method", "slow", "--style", src, "--source", "keyboard"), "--source and --target pick the model"),
            (("--method", "pix2pix"), "unknown method 'pix2pix'")):
        result = run_cli("convert", src, tmp_path / "bad.wav", *args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad.wav").exists()
