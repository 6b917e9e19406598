"""Fuzzing the two loaders users feed arbitrary files to: only DataError escapes."""

import io
import json
import os
import tempfile

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundtransform import audio, data
from soundtransform.errors import DataError

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]


@st.composite
def wav_bytes(draw):
    """A real WAV (random rate, channels, format, length), then maybe damaged."""
    rate = draw(st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 96000]))
    channels = draw(st.integers(1, 6))
    frames = draw(st.integers(0, 2000))
    subtype = draw(st.sampled_from(_SUBTYPES))
    seed = draw(st.integers(0, 2**32 - 1))
    y = np.random.default_rng(seed).uniform(-1, 1, (frames, channels))
    if subtype in ("FLOAT", "DOUBLE") and frames and draw(st.booleans()):
        y[draw(st.integers(0, frames - 1)), 0] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e30]))
    buf = io.BytesIO()
    sf.write(buf, y, rate, subtype=subtype, format="WAV")
    raw = bytearray(buf.getvalue())
    damage = draw(st.sampled_from(["none", "truncate", "flip", "header"]))
    if damage == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif damage == "flip":
        for _ in range(draw(st.integers(1, 8))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    elif damage == "header":
        raw[: min(44, len(raw))] = draw(st.binary(min_size=min(44, len(raw)), max_size=min(44, len(raw))))
    return bytes(raw)


_any_file = st.one_of(wav_bytes(), st.binary(max_size=4096), st.just(b""), st.text().map(str.encode))


@FUZZ
@given(_any_file)
def test_audio_loader_returns_clean_audio_or_raises_data_error(content):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "input.wav")
        with open(path, "wb") as f:
            f.write(content)
        try:
            y = audio.load(path)
        except DataError as exc:
            assert str(exc) and "\n" not in str(exc)
            return
        assert y.dtype == np.float32 and y.ndim == 1 and y.size > 0
        assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0


_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-300, 300), st.floats(allow_nan=False), st.text(max_size=20))
_json = st.recursive(_json_scalar, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=10), c, max_size=4)), max_leaves=12)


@st.composite
def example_entries(draw):
    """Plausible examples.json entries with random fields missing, wrong or extra."""
    entry = {
        "note_str": draw(st.one_of(st.text(max_size=30), st.just("flute_acoustic_002-060-100"))),
        "instrument_str": draw(st.one_of(st.text(max_size=25), st.just("keyboard_electronic_003"))),
        "instrument": draw(st.one_of(st.integers(-5, 999), _json_scalar)),
        "pitch": draw(st.one_of(st.integers(0, 127), _json_scalar)),
        "velocity": draw(st.one_of(st.integers(0, 127), _json_scalar)),
        "instrument_family_str": draw(st.one_of(st.sampled_from(data.FAMILIES), st.text(max_size=10))),
        "instrument_source_str": draw(st.one_of(st.sampled_from(data.SOURCES), st.text(max_size=10))),
    }
    for key in draw(st.lists(st.sampled_from(sorted(entry)), max_size=3)):
        entry.pop(key, None)
    return entry


_examples = st.one_of(
    _json,
    st.dictionaries(st.text(max_size=20), st.one_of(example_entries(), _json), max_size=5),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


@FUZZ
@given(_examples, st.lists(st.text(alphabet="abcdefghiklmnoprstuy_-0123456789.", max_size=40), max_size=4))
def test_nsynth_reader_returns_notes_or_raises_data_error(examples, names):
    with tempfile.TemporaryDirectory() as tmp:
        split = os.path.join(tmp, "nsynth-train")
        os.makedirs(os.path.join(split, "audio"))
        for name in names:
            if name and name not in (".", ".."):
                open(os.path.join(split, "audio", name + ".wav"), "wb").close()
        with open(os.path.join(split, "examples.json"), "w") as f:
            f.write(examples if isinstance(examples, str) else json.dumps(examples))
        for with_json in (True, False):
            if not with_json:
                os.remove(os.path.join(split, "examples.json"))
            try:
                notes = data.read_split(tmp, "train")
            except DataError as exc:
                assert str(exc) and "\n" not in str(exc)
                continue
            for note in notes:
                assert note.family in data.FAMILIES and note.source in data.SOURCES
                assert isinstance(note.pitch, int) and isinstance(note.velocity, int)
