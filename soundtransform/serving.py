"""A client of TF Serving's REST API, with several requests in flight.

One TF Serving process serves every model of ``exported_models/`` as
`registry.write_models_config` lists them in ``models.config``; version
policies and labels are set with `registry.configure`.

`convert_folder_rest` sends a folder of sounds to TF Serving's REST predict
API (``POST /v1/models/NAME[/versions/N | /labels/L]:predict``) with several
requests in flight, and writes the converted sounds atomically.  TF Serving
itself is not a dependency: only ``urllib`` is used.
"""

import json
import os
import time

from soundtransform.errors import DataError, ParameterError, check_choice

REQUEST_FORMATS = ("columnar", "row")  # REST "inputs" or "instances"
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT = 120.0  # seconds per request; a 20-minute input takes a while on CPU
RETRY_STATUS = (429, 502, 503, 504)  # overloaded or restarting: worth another try


# ------------------------------------------------------------ REST client


class _Unreachable(DataError):
    """No answer from the server at all: every further request would fail the same way."""


def model_url(url, model, version=None, label=None):
    """``URL/v1/models/MODEL[/versions/N | /labels/L]``: one model's address in TF Serving's REST API."""
    from urllib.parse import urlsplit

    from soundtransform import registry

    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ParameterError(f"--url {url!r} is not an http(s) address; e.g. http://localhost:8501")
    registry.check_name(model)
    if version is not None and label is not None:
        raise ParameterError("give a version or a label, not both")
    path = f"{str(url).rstrip('/')}/v1/models/{model}"
    if version is not None:
        if int(version) < 1:
            raise ParameterError(f"version {version} must be a number >= 1")
        path += f"/versions/{int(version)}"
    elif label is not None:
        registry.parse_labels([f"{label}=1"])  # the same rule as the labels written into models.config
        path += f"/labels/{label}"
    return path


def _call(url, body=None, timeout=DEFAULT_TIMEOUT, retries=2):
    """GET (no ``body``) or POST ``body`` (JSON text) to ``url``; the decoded JSON reply.

    Raises `_Unreachable` if nothing answers, `DataError` with TF Serving's own
    ``{"error": ...}`` message on an HTTP error (after ``retries`` more tries
    for the statuses of an overloaded server, `RETRY_STATUS`).
    """
    import http.client
    import urllib.error
    import urllib.request

    data = None if body is None else body.encode()
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                         method="GET" if data is None else "POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            if exc.code in RETRY_STATUS and attempt < retries:
                time.sleep(0.5 * 2 ** attempt)
                continue
            raise DataError(f"TF Serving answered HTTP {exc.code} to {url}: {_server_message(exc)}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            if isinstance(reason, TimeoutError):  # slow on this input, not gone: fail this request only
                raise DataError(f"no answer from {url} within {timeout:g} s; a longer --timeout may help") from None
            if isinstance(reason, (ConnectionResetError, http.client.RemoteDisconnected)) and attempt < retries:
                time.sleep(0.5 * 2 ** attempt)
                continue
            raise _Unreachable(f"cannot reach TF Serving at {url}: {_one_line(reason)}") from None
        except ValueError:
            raise DataError(f"{url} did not answer JSON; is it TF Serving's REST port (8501)?") from None
    raise AssertionError("unreachable")


def _server_message(exc):
    """TF Serving's ``{"error": "..."}`` body of an HTTP error, in one line."""
    try:
        text = exc.read().decode("utf-8", "replace")
        return _one_line(json.loads(text).get("error", text))
    except (ValueError, AttributeError, OSError):
        return _one_line(exc.reason)


def _one_line(value):
    lines = str(value).strip().splitlines()
    return " ".join(line.strip() for line in lines)[:300] if lines else type(value).__name__


def model_status(url, model, version=None, label=None, timeout=10.0):
    """TF Serving's status of a model (``GET /v1/models/NAME[...]``): ``{version: state}``.

    Raises
    ------
    DataError
        Nothing answers at ``url``, the model (version, label) is unknown, or
        none of its versions is ``AVAILABLE``.
    """
    address = model_url(url, model, version, label)
    reply = _call(address, timeout=timeout, retries=0)
    states = {int(s.get("version", 0)): s.get("state", "?") for s in reply.get("model_version_status", [])}
    if "AVAILABLE" not in states.values():
        listed = ", ".join(f"{v} {s}" for v, s in sorted(states.items())) or "no versions"
        raise DataError(f"{address} has no AVAILABLE version ({listed})")
    return states


def predict(url, model, waveforms, version=None, label=None, request_format="columnar",
            timeout=DEFAULT_TIMEOUT, retries=2):
    """Transform waveforms with a model served by TF Serving (its ``serving_default`` signature).

    Parameters
    ----------
    url : str
        TF Serving's REST address, e.g. ``http://localhost:8501``.
    model : str
        The model's name in ``models.config``.
    waveforms : np.ndarray [shape=(batch, samples)], float32 at 16 kHz
        All of one request are equally long (TF Serving takes one tensor).
    version, label : int or str, optional
        A version number or a version label (``stable``, ``canary``); default
        the newest served version.
    request_format : {"columnar", "row"}
        TF Serving's ``{"inputs": ...}`` or ``{"instances": ...}`` request.

    Returns
    -------
    np.ndarray [shape=(batch, samples)], float32: cut to the input length if
    the server padded (``pad_variable_length_inputs``).
    """
    import numpy as np

    check_choice("request format", request_format, REQUEST_FORMATS)
    x = np.asarray(waveforms, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ParameterError(f"waveforms must be [batch, samples] with samples > 0, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DataError("waveforms contain NaN or infinite samples (JSON cannot carry them)")
    # Each sample as its shortest float32 decimal: exact (rounding even to 1e-7
    # moves the output by up to 1e-3, through the phase of near-silent bins),
    # and about 40 % less JSON, and faster, than Python's float64 repr.
    rows = ["[" + ",".join([str(v) for v in row]) + "]" for row in x]
    if request_format == "columnar":
        body = '{"signature_name": "serving_default", "inputs": {"waveform": [' + ",".join(rows) + "]}}"
    else:
        body = '{"signature_name": "serving_default", "instances": [' + ",".join(
            '{"waveform": ' + row + "}" for row in rows) + "]}"
    address = model_url(url, model, version, label) + ":predict"
    reply = _call(address, body, timeout=timeout, retries=retries)
    out = reply.get("outputs" if request_format == "columnar" else "predictions")
    if isinstance(out, dict):  # several named outputs: TF Serving keeps the names
        out = out.get("waveform")
    elif isinstance(out, list) and out and isinstance(out[0], dict):
        out = [row.get("waveform") for row in out]
    try:
        y = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError):
        y = np.zeros(0, np.float32)
    if y.ndim != 2 or y.shape[0] != x.shape[0] or y.shape[1] < x.shape[1]:
        raise DataError(f"{address} answered shape {y.shape} to a {x.shape} waveform batch; "
                        "is it a soundtransform model?")
    return y[:, :x.shape[1]]


def convert_folder_rest(in_dir, out_dir, url, model, version=None, label=None,
                        concurrency=DEFAULT_CONCURRENCY, request_format="columnar",
                        timeout=DEFAULT_TIMEOUT, progress=True, overwrite=False):
    """Convert every audio file of ``in_dir`` with a TF Serving model, ``concurrency`` requests at a time.

    Files are read as `convert.convert_folder` reads them (any format, rate
    and channel count; 16 kHz mono is sent), one request per file; outputs
    are mono at the input's rate and length, named after the input and
    written atomically.  Several requests in flight keep TF Serving busy and
    let its batching (``--enable_batching``) merge them.  The model's status
    is checked first, so a wrong address, name, version or label fails at
    once in one line.  A file that cannot be read or that the server rejects
    is reported and skipped; losing the server stops the run (finished
    outputs stay).  Existing outputs are kept unless ``overwrite``.

    Returns
    -------
    dict with ``converted`` (output paths), ``failed`` (``(input, message)``),
    ``kept`` (existing outputs left alone), ``seconds`` (wall clock) and
    ``audio_seconds`` (converted audio).
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    if int(concurrency) < 1:
        raise ParameterError(f"concurrency {concurrency} must be >= 1")
    check_choice("request format", request_format, REQUEST_FORMATS)
    # The server first: a wrong address, name, version or label fails in a
    # second, before TensorFlow (imported by the audio front end) is loaded.
    model_status(url, model, version, label, timeout=min(timeout, 10.0))

    from tqdm import tqdm

    from soundtransform import audio
    from soundtransform.convert import folder_plan, input_rate, output_name

    files, out_dir, kept = folder_plan(in_dir, out_dir, overwrite)
    targets = {f: os.path.join(out_dir, output_name(f)) for f in files}
    os.makedirs(out_dir, exist_ok=True)

    def convert_one(path):
        y16 = audio.load(path, require_sound=True)
        rate = input_rate(path)
        out16 = predict(url, model, y16[None], version, label, request_format, timeout)[0]
        length = int(round(len(y16) * rate / audio.SAMPLE_RATE))
        audio.save(targets[path], audio.fit_length(audio.resample(out16, audio.SAMPLE_RATE, rate), length), rate)
        return len(y16) / audio.SAMPLE_RATE

    converted, failed, audio_seconds = [], [], 0.0
    start = time.perf_counter()
    bar = tqdm(total=len(files), unit="file", disable=not progress, desc="serve-client")
    pool = ThreadPoolExecutor(max_workers=int(concurrency))
    try:
        running = {pool.submit(convert_one, path): path for path in files}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                path = running.pop(future)
                try:
                    audio_seconds += future.result()
                    converted.append(targets[path])
                except _Unreachable:
                    raise
                except DataError as exc:
                    failed.append((path, str(exc)))
                bar.update(1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return {"converted": sorted(converted), "failed": sorted(failed), "kept": kept,
            "seconds": time.perf_counter() - start, "audio_seconds": audio_seconds}
