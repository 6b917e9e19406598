"""Named configurations, resolved in one place.

A configuration is plain data: a dict of keyword arguments for one method's
networks, losses, optimiser and data.  ``tiny`` is for tests (seconds on a CPU),
``default`` is what ships (trains to a useful result on a 2-core CPU within a
session), ``paper`` is the published size for users with a GPU.

Keys shared by every method:

``freq_bins``, ``frames``
    Input image size ``[freq_bins, frames, 1]``: the lowest ``freq_bins`` STFT
    rows and ``frames`` hops of `audio.HOP_LENGTH`.
``batch_size``, ``epochs``, ``learning_rate``, ``seed``
``steps_per_epoch``
    ``None`` for one pass over the training set.
``jit_compile``
    XLA for the train step (measured 25-35% faster on this CPU).
"""

import copy

from soundtransform.errors import ParameterError, check_choice

PRESET_NAMES = ("tiny", "default", "paper")

_COMMON = {
    "tiny": dict(freq_bins=32, frames=32, batch_size=4, epochs=1, steps_per_epoch=2, jit_compile=False),
    "default": dict(freq_bins=256, frames=256, batch_size=8, epochs=20, steps_per_epoch=None, jit_compile=True),
    "paper": dict(freq_bins=256, frames=256, batch_size=16, epochs=100, steps_per_epoch=None, jit_compile=True),
}

# Per method and preset; a method's block overrides the common keys.
_METHODS = {
    "classifier": {
        "tiny": dict(width=1 / 16, dense_units=16, learning_rate=1e-3, seed=0, families=None),
        "default": dict(width=1 / 8, dense_units=256, learning_rate=3e-4, seed=0, families=None,
                        freq_bins=128, frames=128, batch_size=16, epochs=12),
        "paper": dict(width=1.0, dense_units=4096, learning_rate=1e-4, seed=0, families=None),
    },
}


def resolve(method, preset="default", **overrides):
    """The configuration of ``method`` under ``preset``, with ``overrides`` applied.

    Raises
    ------
    ParameterError
        Unknown preset, or an override that the method does not take.
    """
    check_choice("preset", preset, PRESET_NAMES)
    if method not in _METHODS:
        raise ParameterError(f"no presets for method {method!r}")
    config = copy.deepcopy(_COMMON[preset])
    config.update(copy.deepcopy(_METHODS[method][preset]))
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in config:
            raise ParameterError(
                f"{method} has no setting {key!r}; its settings are: {', '.join(sorted(config))}"
            )
        config[key] = value
    config["method"] = method
    config["preset"] = preset
    return config
