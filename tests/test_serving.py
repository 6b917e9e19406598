"""Serving at scale: TF Serving's config files and the concurrent REST client.

TF Serving cannot be installed here.  So the config files are parsed with TF
Serving's own protos (tensorflow-serving-api), and the client runs against a
reference server: a few lines of ``http.server`` that implement TF Serving's
documented REST API (model status; predict by newest version, version number
or label; ``inputs`` and ``instances`` requests) on the real SavedModels,
loaded with plain ``tf.saved_model.load`` as a models.config tells TF Serving
to load them.
"""

import json
import os
import re
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import keras
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

import soundtransform
from conftest import ROOT, assert_one_line_error, run_cli
from soundtransform import audio, export, registry, serving
from soundtransform.errors import DataError, ParameterError

SHIPPED = registry.shipped_models_dir()
EXAMPLE = os.path.join(ROOT, "docs", "serving", "models.config.example")
BATCHING = os.path.join(SHIPPED, "batching.config")
MODEL = registry.DEFAULT_MODEL


# ------------------------------------------------------------ config files


def parse_config(path):
    """A models.config file as TF Serving reads it (text-format ModelServerConfig)."""
    with open(path, encoding="utf-8") as f:
        return text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())


def on_disk(base_path, models_dir):
    """The local folder of a container ``base_path`` (``/models`` is ``models_dir``)."""
    assert base_path.startswith("/models/"), base_path
    return os.path.join(models_dir, base_path[len("/models/"):])


def exported_versions(folder):
    """Version folders TF Serving would find: numeric names holding a saved_model.pb."""
    if not os.path.isdir(folder):
        return []
    return sorted(int(d) for d in os.listdir(folder)
                  if d.isdigit() and os.path.isfile(os.path.join(folder, d, "saved_model.pb")))


def served(model_config, available):
    """The versions TF Serving loads for one ModelConfig, by its version policy."""
    policy = model_config.model_version_policy
    kind = policy.WhichOneof("policy_choice") or "latest"
    if kind == "latest":
        return available[-(policy.latest.num_versions or 1):]
    if kind == "all":
        return available
    return sorted(policy.specific.versions)


def test_shipped_models_config_parses_and_names_exported_versions():
    config = parse_config(os.path.join(SHIPPED, registry.CONFIG_FILE))
    models = config.model_config_list.config
    assert [m.name for m in models] == registry.model_names(SHIPPED)
    assert MODEL in [m.name for m in models]
    for model in models:
        assert model.model_platform == "tensorflow"
        available = exported_versions(on_disk(model.base_path, SHIPPED))
        assert available, f"{model.base_path} holds no version"
        versions = served(model, available)
        assert versions and set(versions) <= set(available)
        assert set(model.version_labels.values()) <= set(versions)


def test_example_config_is_what_serving_config_writes(tmp_path):
    """The documented canary setup is the tool's real output, and TF Serving's protos read it."""
    base = tmp_path / "models"
    for name, numbers in ((MODEL, (1, 2)), ("cyclegan_flute_to_keyboard", (1, 2, 3))):
        for v in numbers:  # version folders as TF Serving finds them
            (base / name / str(v)).mkdir(parents=True)
            (base / name / str(v) / "saved_model.pb").write_bytes(b"")
    registry.configure(str(base), MODEL, "specific:1,2", ["stable=1", "canary=2"])
    path = registry.configure(str(base), "cyclegan_flute_to_keyboard", "latest:2")

    def body(p):
        return [line for line in open(p, encoding="utf-8").read().splitlines() if not line.startswith("#")]

    assert body(path) == body(EXAMPLE)
    config = {m.name: m for m in parse_config(EXAMPLE).model_config_list.config}
    canary = config[MODEL]
    assert list(canary.model_version_policy.specific.versions) == [1, 2]
    assert dict(canary.version_labels) == {"stable": 1, "canary": 2}
    assert served(config["cyclegan_flute_to_keyboard"], [1, 2, 3]) == [2, 3]
    for model in config.values():
        assert set(served(model, exported_versions(on_disk(model.base_path, str(base))))) >= \
            set(model.version_labels.values())
    # A later export rewrites models.config from serving.json: the policy stays.
    (base / MODEL / "3").mkdir()
    (base / MODEL / "3" / "saved_model.pb").write_bytes(b"")
    assert body(registry.write_models_config(str(base))) == body(EXAMPLE)
    # --model alone resets to TF Serving's default (the newest version).
    registry.configure(str(base), MODEL)
    again = {m.name: m for m in parse_config(path).model_config_list.config}[MODEL]
    assert not again.HasField("model_version_policy") and not again.version_labels


@pytest.mark.parametrize("versions, labels, error, words", [
    ("newest", None, ParameterError, "unknown version policy 'newest'"),
    ("latest:0", None, ParameterError, "one number >= 1"),
    ("specific:", None, ParameterError, "names no versions"),
    ("all:2", None, ParameterError, "'all' takes no versions"),
    ("specific:1,9", None, ParameterError, "version 9 is not exported"),
    ("latest:2", ["stable=1"], ParameterError, "need a fixed set of versions"),
    ("specific:1", ["canary=2"], ParameterError, "label canary=2 points to a version that is not served"),
    ("all", ["stable"], ParameterError, "cannot read version label 'stable'"),
])
def test_bad_policies_and_labels_are_refused(tmp_path, versions, labels, error, words):
    for v in (1, 2):
        (tmp_path / "m" / str(v)).mkdir(parents=True)
        (tmp_path / "m" / str(v) / "saved_model.pb").write_bytes(b"")
    registry.write_models_config(str(tmp_path))
    before = (tmp_path / "models.config").read_text()
    with pytest.raises(error, match=re.escape(words)):
        registry.configure(str(tmp_path), "m", versions, labels)
    assert (tmp_path / "models.config").read_text() == before
    assert not (tmp_path / registry.SETTINGS_FILE).exists()


# BatchingParameters (tensorflow_serving/servables/tensorflow/session_bundle_config.proto):
# the wheel has no Python module for it, so its fields are checked here by name and type.
WRAPPED_INT = ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads")
BATCHING_FIELDS = {**{k: "wrapped int" for k in WRAPPED_INT}, "thread_pool_name": "wrapped string",
                   "allowed_batch_sizes": "repeated int", "pad_variable_length_inputs": "bool"}
_WRAPPED = re.compile(r'^(\w+)\s*\{\s*value\s*:\s*("[^"]*"|-?\d+)\s*\}$')
_SCALAR = re.compile(r"^(\w+)\s*:\s*(\S+)$")


def parse_batching(text):
    """Text-format BatchingParameters -> ``{field: value or [values]}``; ValueError names what is wrong."""
    fields = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = _WRAPPED.match(line) or _SCALAR.match(line)
        if not match or match.group(1) not in BATCHING_FIELDS:
            raise ValueError(f"line {number}: unknown field or syntax: {line!r}")
        name, value = match.groups()
        kind = BATCHING_FIELDS[name]
        if kind.startswith("wrapped") != (match.re is _WRAPPED):
            raise ValueError(f"line {number}: {name} is a {kind}: {line!r}")
        if kind == "wrapped string":
            if not value.startswith('"'):
                raise ValueError(f"line {number}: {name} must be a quoted string")
            value = value.strip('"')
        elif kind == "bool":
            if value not in ("true", "false"):
                raise ValueError(f"line {number}: {name} must be true or false")
            value = value == "true"
        elif not re.fullmatch(r"-?\d+", value):
            raise ValueError(f"line {number}: {name} must be an integer")
        else:
            value = int(value)
        if kind == "repeated int":
            fields.setdefault(name, []).append(value)
        elif name in fields:
            raise ValueError(f"line {number}: {name} is set twice")
        else:
            fields[name] = value
    sizes = fields.get("allowed_batch_sizes")
    if sizes and (sizes != sorted(set(sizes)) or sizes[-1] != fields.get("max_batch_size")):
        raise ValueError("allowed_batch_sizes must increase and end at max_batch_size")
    if any(fields.get(k, 1) < 1 for k in WRAPPED_INT if k != "batch_timeout_micros"):
        raise ValueError("batch sizes, queue lengths and thread counts must be >= 1")
    return fields


def test_batching_config_has_tf_servings_fields():
    fields = parse_batching(open(BATCHING, encoding="utf-8").read())
    assert set(fields) >= {"max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches",
                           "pad_variable_length_inputs"}
    # Waveforms of different lengths cannot be merged unpadded; see the file's comments.
    assert fields["pad_variable_length_inputs"] is False
    assert fields["max_batch_size"] >= 2 and 0 < fields["batch_timeout_micros"] <= 100_000


@pytest.mark.parametrize("text, words", [
    ("max_batch_size: 8", "is a wrapped int"),
    ("max_batch_size { value: 8 }\nmax_batch_size { value: 4 }", "set twice"),
    ("batch_size { value: 8 }", "unknown field"),
    ("pad_variable_length_inputs: 1", "true or false"),
    ("max_batch_size { value: 8 }\nallowed_batch_sizes: 4\nallowed_batch_sizes: 2", "must increase"),
    ("max_batch_size { value: 8 }\nallowed_batch_sizes: 2\nallowed_batch_sizes: 4", "end at max_batch_size"),
])
def test_batching_checker_catches_mistakes(text, words):
    assert parse_batching("max_batch_size { value: 8 }\nallowed_batch_sizes: 4\nallowed_batch_sizes: 8") == \
        {"max_batch_size": 8, "allowed_batch_sizes": [4, 8]}
    with pytest.raises(ValueError, match=words):
        parse_batching(text)


# -------------------------------------------------------- reference server


_ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                    r"(?P<predict>:predict)?$")


class ReferenceServing(ThreadingHTTPServer):
    """TF Serving's REST API over the models a models.config names, on 127.0.0.1 and a free port."""

    daemon_threads = True

    def __init__(self, config_path, models_dir):
        self.models = {}
        for model in parse_config(config_path).model_config_list.config:
            folder = on_disk(model.base_path, models_dir)
            versions = served(model, exported_versions(folder))
            self.models[model.name] = {
                "versions": {v: tf.saved_model.load(os.path.join(folder, str(v))) for v in versions},
                "labels": dict(model.version_labels),
            }
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = self.predictions = 0
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _find(self):
        """(route match, model dict, version number) or None after replying 404 as TF Serving does."""
        match = _ROUTE.match(self.path)
        model = self.server.models.get(match["name"]) if match else None
        if model is None:
            self._reply(404, {"error": f"Servable not found for request: Latest({match and match['name']})"})
            return None
        if match["label"]:
            version = model["labels"].get(match["label"])
        elif match["version"]:
            version = int(match["version"])
        else:
            version = max(model["versions"])
        if version not in model["versions"]:
            what = f"label {match['label']}" if match["label"] else f"version {version}"
            self._reply(404, {"error": f"Servable not found for request: {match['name']} {what}"})
            return None
        return match, model, version

    def do_GET(self):
        found = self._find()
        if found is None:
            return
        match, model, version = found
        versions = [version] if (match["version"] or match["label"]) else sorted(model["versions"], reverse=True)
        self._reply(200, {"model_version_status": [
            {"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            for v in versions]})

    def do_POST(self):
        found = self._find()
        if found is None:
            return
        match, model, version = found
        if not match["predict"]:
            self._reply(404, {"error": "unsupported endpoint"})
            return
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            signature = model["versions"][version].signatures[body.get("signature_name", "serving_default")]
            if "inputs" in body:
                inputs = body["inputs"]
                x = inputs["waveform"] if isinstance(inputs, dict) else inputs
            else:
                x = [row["waveform"] if isinstance(row, dict) else row for row in body["instances"]]
            y = signature(waveform=tf.constant(np.asarray(x, np.float32)))["waveform"].numpy().tolist()
            self._reply(200, {"outputs": y} if "inputs" in body else {"predictions": y})
        except (tf.errors.InvalidArgumentError, KeyError, ValueError) as exc:
            self._reply(400, {"error": str(exc).strip().splitlines()[0]})
        finally:
            with server.lock:
                server.in_flight -= 1
                server.predictions += 1


@pytest.fixture(scope="module")
def shipped_server():
    """The shipped exported_models/ served as its committed models.config says."""
    server = ReferenceServing(os.path.join(SHIPPED, registry.CONFIG_FILE), SHIPPED)
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def shipped_model():
    return soundtransform.load_model(MODEL, base_dir=SHIPPED)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def note_dir(notes, tmp_path):
    """Four rendered flute notes, one of them re-saved at 22.05 kHz stereo."""
    folder = tmp_path / "notes"
    folder.mkdir()
    flutes = [n for n in notes if n.family == "flute"][:4]
    assert len(flutes) == 4
    for i, note in enumerate(flutes):
        y = audio.load(note.path)
        if i == 0:
            y22 = audio.resample(y, audio.SAMPLE_RATE, 22050)
            sf.write(folder / f"{note.note_str}.wav", np.stack([y22, 0.5 * y22], axis=1), 22050)
        else:
            shutil.copy(note.path, folder / f"{note.note_str}.wav")
    return folder


# ------------------------------------------------------------------ client


def test_client_converts_folder_concurrently_like_the_project_model(shipped_server, shipped_model, note_dir,
                                                                    tmp_path):
    out_dir = tmp_path / "out"
    result = serving.convert_folder_rest(note_dir, out_dir, shipped_server.url, MODEL, concurrency=4,
                                         progress=False)
    assert len(result["converted"]) == 4 and not result["failed"]
    assert shipped_server.max_in_flight >= 2, "the client sent one request at a time"
    for path in sorted(note_dir.iterdir()):
        info = sf.info(path)
        y = audio.load(path, sample_rate=info.samplerate)
        expected = np.clip(shipped_model.convert(y, sample_rate=info.samplerate), -1, 1)
        got, rate = sf.read(out_dir / path.name, dtype="float32")
        assert rate == info.samplerate and got.shape == expected.shape
        assert np.max(np.abs(got - expected)) <= 1e-4, path.name

    # A second run keeps the finished outputs; the CLI, asking for the version by number with
    # row-format requests, writes the same sounds and skips a silent file.
    again = serving.convert_folder_rest(note_dir, out_dir, shipped_server.url, MODEL, progress=False)
    assert len(again["kept"]) == 4 and not again["converted"]
    inputs = sorted(note_dir.iterdir())
    sf.write(note_dir / "silent.wav", np.zeros(8000, np.float32), 16000)
    cli_out = tmp_path / "cli_out"
    result = run_cli("serve-client", note_dir, cli_out, "--url", shipped_server.url, "--model", MODEL,
                     "--version", registry.versions(os.path.join(SHIPPED, MODEL))[-1], "--format", "row",
                     "--concurrency", 2)
    assert result.returncode == 1, result.stderr
    assert "wrote 4 files" in result.stdout
    assert "skipped" in result.stderr and "silent.wav" in result.stderr
    assert sorted(p.name for p in cli_out.iterdir()) == [p.name for p in inputs]
    for path in inputs:
        a, _ = sf.read(out_dir / path.name)
        b, _ = sf.read(cli_out / path.name)
        assert np.array_equal(a, b), path.name


def tiny_generator(seed):
    """A one-layer image-to-image generator; two seeds give two different models."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 1))
    return keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(inputs))


def test_labels_route_stable_and_canary_to_their_versions(tmp_path, rng):
    """Two versions beside each other, addressed by number and by label, as in docs/serving.md."""
    base = str(tmp_path / "models")
    for seed in (1, 2):
        export.export_generator(tiny_generator(seed), "tiny", {"method": "test"}, base_dir=base)
    path = registry.configure(base, "tiny", "specific:1,2", {"stable": 1, "canary": 2})
    server = ReferenceServing(path, base)
    try:
        x = (0.1 * rng.standard_normal((2, 8000))).astype(np.float32)
        want = {v: soundtransform.load_model(os.path.join(base, "tiny", str(v))).convert_batch(x) for v in (1, 2)}
        assert np.max(np.abs(want[1] - want[2])) > 1e-3, "the two versions must differ for this test"
        for kwargs, version in (({"label": "stable"}, 1), ({"label": "canary"}, 2), ({"version": 1}, 1), ({}, 2)):
            got = serving.predict(server.url, "tiny", x, **kwargs)
            assert np.max(np.abs(got - want[version])) <= 1e-4, kwargs
        assert serving.model_status(server.url, "tiny") == {1: "AVAILABLE", 2: "AVAILABLE"}
        assert serving.model_status(server.url, "tiny", label="canary") == {2: "AVAILABLE"}
        with pytest.raises(DataError, match="HTTP 404.*tiny label beta"):
            serving.model_status(server.url, "tiny", label="beta")
        with pytest.raises(DataError, match="NaN or infinite"):
            serving.predict(server.url, "tiny", np.full((1, 100), np.nan, np.float32))
    finally:
        server.shutdown()


def test_unreachable_or_wrong_server_fails_in_one_line(shipped_server, note_dir, tmp_path):
    out = tmp_path / "out"
    dead = f"http://127.0.0.1:{free_port()}"
    assert_one_line_error(run_cli("serve-client", note_dir, out, "--url", dead, "--model", MODEL), 1,
                          "cannot reach TF Serving at")
    assert_one_line_error(run_cli("serve-client", note_dir, out, "--url", "ftp://example.org"), 2,
                          "is not an http(s) address")
    assert_one_line_error(run_cli("serve-client", note_dir, out, "--url", shipped_server.url, "--model", "nope"), 1,
                          "HTTP 404")
    assert_one_line_error(run_cli("serve-client", note_dir, out, "--url", shipped_server.url, "--version", 1,
                                  "--label", "stable"), 2, "a version or a label, not both")
    assert not out.exists(), "nothing is written when the server cannot be used"
    assert_one_line_error(run_cli("serving-config", "--models-dir", tmp_path, "--versions", "all"), 2,
                          "pass --model NAME")
