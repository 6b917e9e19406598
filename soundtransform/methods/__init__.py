"""Registry of methods: one module each, imported only when asked for.

A method module provides::

    make_datasets(root, config, source=None, target=None) -> (train, valid, info)
        unbatched tf.data pipelines and a JSON-able dict describing the data;
    build(config, info) -> keras.Model
        the compiled, built training model (its ``train_step`` is the method);
    callbacks(model, config, run_dir, valid, info) -> list of keras callbacks
        method-specific ones (example images, artifact saving);
    finish(model, config, info, run_dir) -> dict
        final artifacts (a ``.keras`` file, an export), returned as paths.

The translation methods take ``callbacks`` and ``finish`` from a
`training.method.GeneratorMethod`; no method imports another (Slow and
Faster use the classifier's perceptual network).  Settings are checked once,
by `presets.resolve`.
"""

import importlib

from soundtransform.errors import check_choice

METHODS = {
    "classifier": "soundtransform.methods.classifier",
    "cgan": "soundtransform.methods.cgan",
    "cyclegan": "soundtransform.methods.cyclegan",
    "faster": "soundtransform.methods.faster",
}


def get(name):
    """The module of method ``name``; `ParameterError` names the known ones."""
    check_choice("method", name, tuple(METHODS))
    return importlib.import_module(METHODS[name])
