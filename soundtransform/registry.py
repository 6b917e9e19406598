"""Exported models: names, versions, lookup, metadata, and TF Serving's ``models.config``.

Layout, as TF Serving expects (TensorFlow Model Garden's ``export_base`` does
the same)::

    BASE_DIR/models.config                 TF Serving's model_config_list
    BASE_DIR/serving.json                  version policies and labels (`configure`)
    BASE_DIR/NAME/VERSION/saved_model.pb   VERSION = 1, 2, 3 ...
    BASE_DIR/NAME/VERSION/variables/
    BASE_DIR/NAME/VERSION/assets/soundtransform.json   the metadata
    BASE_DIR/NAME/VERSION/assets/generator.json        the generator's architecture, to fine-tune from

A name is looked up in the user's models folder (``$SOUNDTRANSFORM_MODELS``)
first, then in the shipped models.  Per model, a deployment also chooses

* a **version policy**, the versions TF Serving loads: ``latest:N`` (the N
  newest, TF Serving's default is ``latest:1``), ``all``, or
  ``specific:V1,V2``;
* **version labels** such as ``stable`` and ``canary``, names that clients
  address instead of numbers, so that a new version runs beside the old one
  and is promoted by moving a label, with no client change.

`configure` records them in ``BASE_DIR/serving.json`` and rewrites
``models.config``; every later export rewrites ``models.config`` from the same
file, so an export never drops a deployment's policy.
"""

import json
import os
import re

from soundtransform.errors import DataError, ParameterError
from soundtransform.fileio import write_text

DEFAULT_MODEL = "cgan_flute_to_keyboard"  # what ships; $SOUNDTRANSFORM_DEFAULT_MODEL overrides
METADATA_FILE = "soundtransform.json"
GENERATOR_CONFIG = "generator.json"  # the generator's architecture; its weights are the SavedModel's own
GENERATOR_ASSET = "generator.keras"  # older exports kept a second copy of the generator here
NETWORK_FILES = {"onnx": "model.onnx", "tflite": "model.tflite"}  # a version's network in other formats
CONFIG_FILE = "models.config"
SETTINGS_FILE = "serving.json"  # version policies and labels that models.config is written with
POLICIES = ("latest", "all", "specific")
DEFAULT_POLICY = "latest:1"  # TF Serving's own default: the newest version only
DEFAULT_MOUNT = "/models"  # where the docker examples mount exported_models/
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


# ------------------------------------------------------------------ lookup

def models_dir():
    """Where models are exported: ``$SOUNDTRANSFORM_MODELS`` if set, else `shipped_models_dir`."""
    env = os.environ.get("SOUNDTRANSFORM_MODELS")
    return os.path.abspath(env) if env else shipped_models_dir()


def shipped_models_dir():
    """The models that ship: ``soundtransform/exported_models/`` of an installed package (the wheel holds
    them as package data), else ``exported_models/`` of the source tree, next to ``cli.py``."""
    package = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(package, "exported_models")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(package), "exported_models")


def search_dirs(base_dir=None):
    """Where model names are looked up, in order: ``[base_dir]``, or `models_dir` then `shipped_models_dir`."""
    if base_dir:
        return [os.path.abspath(base_dir)]
    dirs = [models_dir()]
    if shipped_models_dir() not in dirs:
        dirs.append(shipped_models_dir())
    return dirs


def default_model():
    """The model ``convert`` uses when none is named: ``$SOUNDTRANSFORM_DEFAULT_MODEL`` or `DEFAULT_MODEL`."""
    return os.environ.get("SOUNDTRANSFORM_DEFAULT_MODEL") or DEFAULT_MODEL


def check_name(name):
    """Raise `ParameterError` unless ``name`` can be a model folder and TF Serving name."""
    if not isinstance(name, str) or not _NAME.match(name) or name.isdigit():
        raise ParameterError(
            f"invalid model name {name!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (e.g. cgan_flute_to_keyboard)"
        )
    return name


def versions(model_dir):
    """Finished versions in ``model_dir``, ascending ``[int]`` (hidden .part folders ignored)."""
    if not os.path.isdir(model_dir):
        return []
    found = []
    for entry in os.listdir(model_dir):
        if entry.isdigit() and os.path.isfile(os.path.join(model_dir, entry, "saved_model.pb")):
            found.append(int(entry))
    return sorted(found)


model_versions = versions  # for functions whose ``versions`` argument is a policy


def model_names(base_dir=None):
    """Names of the models in ``base_dir`` that have at least one finished version."""
    base_dir = base_dir or models_dir()
    if not os.path.isdir(base_dir):
        return []
    return sorted(
        d for d in os.listdir(base_dir)
        if not d.startswith(".") and versions(os.path.join(base_dir, d))
    )


def read_metadata(version_dir):
    """The metadata dict of one exported version (`DataError` if it has none)."""
    path = os.path.join(version_dir, "assets", METADATA_FILE)
    if not os.path.isfile(path):
        raise DataError(f"{version_dir} is not a soundtransform export (no assets/{METADATA_FILE})")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def find_version(model, base_dir=None):
    """Resolve a model name or path to one version folder.

    Parameters
    ----------
    model : str
        A name (its highest version), a ``NAME`` folder (its highest version)
        or a ``NAME/VERSION`` folder.
    base_dir : str, optional
        Look names up here only; default `search_dirs`: the user's
        ``$SOUNDTRANSFORM_MODELS`` first, then the shipped models.

    Raises
    ------
    ParameterError
        An unknown name; the message lists the available ones.
    DataError
        A folder that holds no finished version.
    """
    model = os.fspath(model)
    if os.path.isdir(model):
        if os.path.isfile(os.path.join(model, "saved_model.pb")):
            return os.path.abspath(model)
        found = versions(model)
        if not found:
            raise DataError(f"{model} holds no exported model (no saved_model.pb, no numbered versions)")
        return os.path.abspath(os.path.join(model, str(found[-1])))
    available = []
    for folder in search_dirs(base_dir):
        names = model_names(folder)
        if model in names:
            model_dir = os.path.join(folder, model)
            return os.path.join(model_dir, str(versions(model_dir)[-1]))
        available += [n for n in names if n not in available]
    where = " and ".join(search_dirs(base_dir))
    listed = ", ".join(sorted(available)) if available else "none exported yet (see `soundtransform export`)"
    raise ParameterError(f"unknown model {model!r} in {where}; available: {listed}")


def list_models(base_dir=None):
    """Every model of `search_dirs` (a user's model shadows a shipped one of the same name).

    Returns
    -------
    list of dict with ``name``, ``versions`` ([int]), ``path`` (newest version),
    ``shipped`` (bool) and ``metadata`` (dict, or None if unreadable).
    """
    out, seen = [], set()
    for folder in search_dirs(base_dir):
        for name in model_names(folder):
            if name in seen:
                continue
            seen.add(name)
            found = versions(os.path.join(folder, name))
            path = os.path.join(folder, name, str(found[-1]))
            try:
                metadata = read_metadata(path)
            except (DataError, ValueError, OSError):
                metadata = None
            out.append({"name": name, "versions": found, "path": path, "metadata": metadata,
                        "shipped": folder == shipped_models_dir()})
    return out


def write_models_config(base_dir=None, mount=None):
    """Rewrite ``BASE_DIR/models.config`` to list every exported model.

    TF Serving's text-format ``ModelServerConfig``; ``base_path`` is where
    ``BASE_DIR`` is mounted in the container (``-v $PWD/exported_models:/models``;
    default ``/models``, or what ``soundtransform serving-config --mount`` set).
    Version policies and labels set with ``soundtransform serving-config``
    (``BASE_DIR/serving.json``, see `soundtransform.serving`) are kept.
    """
    base_dir = base_dir or models_dir()
    os.makedirs(base_dir, exist_ok=True)
    settings = read_settings(base_dir)
    mount = (mount or settings.get("mount") or DEFAULT_MOUNT).rstrip("/")
    policies = settings.get("models", {})
    lines = ["# Written by `soundtransform export`; lists every model in this folder."]
    if policies:
        lines.append(f"# Version policies and labels: {SETTINGS_FILE} (`soundtransform serving-config`).")
    lines.append("model_config_list {")
    for name in model_names(base_dir):
        lines += [
            "  config {",
            f'    name: "{name}"',
            f'    base_path: "{mount}/{name}"',
            '    model_platform: "tensorflow"',
            *config_lines(name, policies.get(name, {}), versions(os.path.join(base_dir, name))),
            "  }",
        ]
    lines.append("}")
    path = os.path.join(base_dir, CONFIG_FILE)
    write_text(path, "\n".join(lines) + "\n")
    return path


def describe(entry, default=None):
    """Lines describing one `list_models` entry, for ``soundtransform models``."""
    md = entry.get("metadata") or {}
    flags = "".join(f for f, on in ((" (default)", entry["name"] == default), (" (shipped)", entry.get("shipped")))
                    if on)
    what = " -> ".join(str(md[k]) for k in ("source", "target") if md.get(k))
    head = f"{entry['name']}{flags}: {md.get('method', 'unknown method')}"
    lines = [head + (f", {what}" if what else "")]
    if not md:
        lines.append("  (no readable soundtransform metadata)")
    else:
        lines.append(
            f"  versions {', '.join(map(str, entry['versions']))}; newest exported {md.get('created', '?')}; "
            f"image {md.get('freq_bins')}x{md.get('frames')}, overlap {md.get('overlap')} frames; "
            f"phase {md.get('phase')}" + (f" ({md.get('n_iter')} iterations)" if md.get("phase") == "griffin-lim" else "")
            + f"; rows above: {md.get('upper_bins')}"
            + (f"; inputs scaled to a {md['input_peak_db']:g} dBFS peak"
               if isinstance(md.get("input_peak_db"), (int, float)) else "; inputs as they are")
        )
        if md.get("preset"):
            lines.append(f"  preset {md['preset']}")
        data = md.get("training_data")
        if isinstance(data, dict):
            keys = ("root", "train_notes", "train_pairs", "families")
            lines.append("  trained on: " + ", ".join(f"{k} {data[k]}" for k in keys if k in data))
        metrics = md.get("metrics")
        if isinstance(metrics, dict) and metrics:
            lines.append("  metrics: " + ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(metrics.items())
                if isinstance(v, (int, float, str))))
    files = [fmt for fmt, name in NETWORK_FILES.items() if os.path.isfile(os.path.join(entry["path"], name))]
    lines.append(f"  {entry['path']} (SavedModel{''.join(', ' + f for f in files)})")
    return lines


# ------------------------------------------------------- serving policies


def parse_policy(text):
    """Read a version policy: ``"latest"``, ``"latest:N"``, ``"all"`` or ``"specific:V1,V2"``.

    Returns
    -------
    (kind, numbers) : (str, list of int)
        ``("latest", [N])``, ``("all", [])`` or ``("specific", [V1, V2 ...])``
        sorted, without repeats.
    """
    text = str(text).strip()
    kind, colon, rest = text.partition(":")
    usage = "use latest, latest:N, all or specific:V1,V2 (e.g. specific:1,2)"
    if kind not in POLICIES:
        raise ParameterError(f"unknown version policy {text!r}; {usage}")
    try:
        numbers = sorted({int(v) for v in rest.split(",") if v.strip()})
    except ValueError:
        raise ParameterError(f"cannot read the versions of policy {text!r}; {usage}") from None
    if kind == "latest":
        numbers = numbers if colon else [1]
        if len(numbers) != 1 or numbers[0] < 1:
            raise ParameterError(f"version policy {text!r} needs one number >= 1 after 'latest:'")
    elif kind == "all" and (colon or numbers):
        raise ParameterError(f"version policy {text!r}: 'all' takes no versions")
    elif kind == "specific" and (not numbers or numbers[0] < 1):
        raise ParameterError(f"version policy {text!r} names no versions >= 1; {usage}")
    return kind, numbers


def format_policy(kind, numbers):
    """The inverse of `parse_policy`: ``("specific", [1, 2]) -> "specific:1,2"``."""
    return kind if kind == "all" else f"{kind}:{','.join(map(str, numbers))}"


def served_versions(policy, available):
    """The versions TF Serving loads under ``policy`` when ``available`` are exported.

    Raises
    ------
    ParameterError
        A ``specific`` policy naming a version that is not exported.
    """
    kind, numbers = parse_policy(policy)
    available = sorted(available)
    if kind == "latest":
        return available[-numbers[0]:]
    if kind == "all":
        return available
    missing = [v for v in numbers if v not in available]
    if missing:
        raise ParameterError(
            f"version {', '.join(map(str, missing))} is not exported; exported versions: "
            f"{', '.join(map(str, available)) or 'none'}"
        )
    return numbers


def parse_labels(items):
    """``["stable=1", "canary=2"]`` (or a dict) -> ``{"stable": 1, "canary": 2}``."""
    if isinstance(items, dict):
        items = [f"{k}={v}" for k, v in items.items()]
    labels = {}
    for item in items or ():
        name, eq, version = str(item).partition("=")
        name = name.strip()
        try:
            number = int(version)
        except ValueError:
            number = 0
        if not eq or not _LABEL.match(name) or number < 1:
            raise ParameterError(
                f"cannot read version label {item!r}: use NAME=VERSION with a name of letters, "
                "digits, '_' and '-' (e.g. stable=1 canary=2)"
            )
        labels[name] = number
    return labels


def check_entry(model, entry, available):
    """Check one model's ``{"versions": POLICY, "labels": {...}}`` against its exported versions.

    Labels need a fixed set of loaded versions (``specific`` or ``all``): with
    ``latest:N`` the next export would unload a labelled version.  TF Serving
    only assigns a label to a version it serves.

    Returns
    -------
    (served, labels) : (list of int, dict)
    """
    policy = entry.get("versions", DEFAULT_POLICY)
    try:
        served = served_versions(policy, available)
        labels = parse_labels(entry.get("labels") or {})
    except ParameterError as exc:
        raise ParameterError(f"model {model}: {exc}") from None
    if labels and parse_policy(policy)[0] == "latest":
        raise ParameterError(
            f"model {model}: version labels need a fixed set of versions; use --versions "
            f"specific:{','.join(map(str, sorted(set(labels.values()))))} (or all), not {policy}"
        )
    for name, version in labels.items():
        if version not in served:
            raise ParameterError(
                f"model {model}: label {name}={version} points to a version that is not served; "
                f"served versions: {', '.join(map(str, served)) or 'none'}"
            )
    return served, labels


def config_lines(model, entry, available, indent="    "):
    """Text-proto lines of one ``config { }`` block for a model's policy and labels (none for the default)."""
    kind, numbers = parse_policy(entry.get("versions", DEFAULT_POLICY))
    _, labels = check_entry(model, entry, available)
    lines = []
    if (kind, numbers) != ("latest", [1]):
        body = {"latest": [f"num_versions: {numbers[0]}"] if kind == "latest" else [],
                "all": [], "specific": [f"versions: {v}" for v in numbers]}[kind]
        lines += ["model_version_policy {", f"  {kind} {{", *(f"    {b}" for b in body), "  }", "}"]
    for name, version in sorted(labels.items(), key=lambda item: (item[1], item[0])):
        lines += ["version_labels {", f'  key: "{name}"', f"  value: {version}", "}"]
    return [indent + line for line in lines]


def read_settings(base_dir=None):
    """``BASE_DIR/serving.json``: ``{"mount": str, "models": {NAME: {"versions", "labels"}}}`` ({} if absent)."""
    path = os.path.join(base_dir or models_dir(), SETTINGS_FILE)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            settings = json.load(f)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not isinstance(settings, dict) or not isinstance(settings.get("models", {}), dict):
        raise DataError(f"{path} is not a soundtransform serving file (expected {{\"models\": {{...}}}})")
    return settings


def configure(base_dir=None, model=None, versions=DEFAULT_POLICY, labels=None, mount=None):
    """Set one model's version policy and labels, then rewrite ``models.config``.

    Parameters
    ----------
    base_dir : str, optional
        The export folder; default `models_dir`.
    model : str, optional
        The model to set; without it ``models.config`` is only rewritten.
        Its entry becomes exactly ``versions`` and ``labels`` (so
        ``configure(model=NAME)`` resets it to TF Serving's default).
    versions : str
        Version policy, see `parse_policy`.
    labels : dict or list of "NAME=VERSION", optional
        Version labels, e.g. ``{"stable": 1, "canary": 2}``; they need a
        ``specific`` or ``all`` policy that serves their versions.
    mount : str, optional
        Where ``base_dir`` is mounted in the TF Serving container (the
        ``base_path`` prefix); default ``/models``, remembered once set.

    Returns
    -------
    path : str
        ``BASE_DIR/models.config``, written atomically.
    """
    base_dir = os.path.abspath(base_dir or models_dir())
    settings = read_settings(base_dir)
    models = dict(settings.get("models", {}))
    if mount is not None:
        if not mount or any(c in mount for c in '"\\\n'):
            raise ParameterError(f"mount {mount!r} must be a path without quotes or backslashes, e.g. /models")
        settings["mount"] = mount.rstrip("/") or "/"
    if model is None:
        if labels or (versions or DEFAULT_POLICY) != DEFAULT_POLICY:
            raise ParameterError("a version policy or labels need the model they are for: pass --model NAME")
    else:
        check_name(model)
        available = model_versions(os.path.join(base_dir, model))
        if not available:
            names = ", ".join(model_names(base_dir)) or "none"
            raise ParameterError(f"unknown model {model!r} in {base_dir}; available: {names}")
        kind, numbers = parse_policy(versions or DEFAULT_POLICY)
        entry = {"versions": format_policy(kind, numbers), "labels": parse_labels(labels)}
        check_entry(model, entry, available)
        if entry == {"versions": DEFAULT_POLICY, "labels": {}}:
            models.pop(model, None)
        else:
            models[model] = entry
    settings["models"] = models
    path = os.path.join(base_dir, SETTINGS_FILE)
    if models or settings.get("mount") or os.path.exists(path):
        write_text(path, json.dumps(settings, indent=1, sort_keys=True) + "\n")
    return write_models_config(base_dir)
