"""Averages of a generator's weights: over training steps, and over saved generators.

`WeightAverage` keeps an exponential moving average of a network's weights
during training.  GAN generators swing from step to step and epoch to epoch:
a cgan's valid-split score went 73, 66, 81, 84, 70 % over five consecutive
epochs (docs/experiments.md, "cgan (pix2pix)").  Averaging the generator's
weights over recent steps (Karras et al. 2018, "Progressive Growing of GANs";
Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training")
gives a generator that swings less and is usually better than any single
step's, at no training cost.  The average never feeds back into training.

`average_generators` takes the weighted mean of saved generators of one
architecture (a "model soup", Wortsman et al. 2022): two fine-tunes of the
same start often sit in one basin of the loss, so the mean of their weights
can keep some of what each learned.  `export_average` exports such a mean of
exported models as a new model version.
"""

import os

import keras
import tensorflow as tf

from soundtransform.errors import ParameterError


class WeightAverage(keras.layers.Layer):
    """Holds ``average``, a copy of ``network`` whose weights follow the network's moving average.

    After step ``t`` (`update`), each average weight ``a`` of a network weight
    ``w`` becomes ``d * a + (1 - d) * w`` with ``d = min(decay, (1 + t) / (10 + t))``,
    so the first steps are not swamped by the random initial weights
    (the warm-up of `tf.train.ExponentialMovingAverage` with ``num_updates``).
    The copy is a sub-layer, so checkpoints of the owning model hold it and a
    resumed run keeps averaging where it stopped.

    Parameters
    ----------
    network : keras.Model
        A built network with ``get_config``/``from_config`` (e.g. `UNet`); it
        is copied, not kept.
    decay : float
        In (0, 1); 0.995 averages over roughly the last 200 steps.
    """

    def __init__(self, network, decay=0.995, **kwargs):
        super().__init__(**kwargs)
        self.decay = float(decay)
        self.average = network.__class__.from_config(network.get_config())
        self.average.set_weights(network.get_weights())
        self.average.trainable = False
        self.built = True  # the copy is built already

    def update(self, network, step):
        """Move the average toward ``network``'s current weights; ``step`` counts the updates so far (from 1)."""
        step = tf.cast(step, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + step) / (10.0 + step))
        for average, weight in zip(self.average.weights, network.weights):
            average.assign(decay * average + (1.0 - decay) * weight)

    def call(self, images, training=False):
        return self.average(images, training=training)

    def get_config(self):
        # Not deserialised on its own: its owner (`CGAN`, `FasterStyleTransfer`) builds it from the network it averages.
        return {**super().get_config(), "decay": self.decay}


def check_shares(shares):
    """``shares`` as floats, each in [0, 1], summing to 1 (`ParameterError` otherwise)."""
    try:
        shares = [float(s) for s in shares]
    except (TypeError, ValueError):
        raise ParameterError(f"the shares of an average must be numbers, not {list(shares)!r}") from None
    for share in shares:
        if not 0.0 <= share <= 1.0:
            raise ParameterError(f"a share of an average must be in [0, 1], not {share:g}")
    if abs(sum(shares) - 1.0) > 1e-6:
        raise ParameterError(f"the shares of an average must sum to 1, not {sum(shares):g}")
    return shares


def check_same_architecture(generators, names):
    """`ParameterError` unless every generator has the first one's input shape and weight shapes."""
    def shapes(generator):
        return [tuple(generator.input_shape[1:])] + [tuple(w.shape) for w in generator.weights]

    first = shapes(generators[0])
    for generator, name in zip(generators[1:], names[1:]):
        if shapes(generator) != first:
            raise ParameterError(f"{names[0]} and {name} are different architectures; only the same one can be "
                                 "averaged")


def weighted_mean(weight_lists, shares):
    """The weighted mean of several networks' weights.

    Parameters
    ----------
    weight_lists : list of list of np.ndarray
        Each network's ``get_weights()``, all of the same shapes.
    shares : list of float
        One per network.

    Returns
    -------
    list of np.ndarray, ``sum(share * weights)`` weight by weight
    """
    return [sum(share * weights[i] for share, weights in zip(shares, weight_lists))
            for i in range(len(weight_lists[0]))]


def load_generator(model):
    """A saved generator: a ``.keras`` file, a run folder, or an exported model's name or folder.

    Returns
    -------
    (generator, version_dir) : (keras.Model, str or None)
        ``version_dir`` is the exported version folder, None for a file or run folder.
    """
    from soundtransform import registry
    from soundtransform.training import runs

    model = os.fspath(model)
    if os.path.isfile(model) or os.path.isfile(os.path.join(model, "config.json")):
        return runs.load_generator(runs.find_run_generator(model)[0]), None
    version_dir = registry.find_version(model)
    return runs.load_exported_generator(version_dir), version_dir


def average_generators(models, shares):
    """The weighted mean of saved generators of one architecture.

    Parameters
    ----------
    models : list of str
        Generators as `load_generator` takes them (``.keras`` files, run
        folders, exported models), at least two.
    shares : list of float
        Each model's share, in [0, 1], summing to 1.

    Returns
    -------
    keras.Model
        The first model's network with the mean weights.

    Raises
    ------
    ParameterError
        Fewer than two models, bad shares, or different architectures.
    """
    if len(models) < 2 or len(models) != len(shares):
        raise ParameterError(f"an average needs two or more generators, each with a share; got {len(models)} "
                             f"generators and {len(shares)} shares")
    shares = check_shares(shares)
    generators = [load_generator(m)[0] for m in models]
    check_same_architecture(generators, [os.fspath(m) for m in models])
    mean = weighted_mean([g.get_weights() for g in generators], shares)
    generators[0].set_weights(mean)
    return generators[0]


def version_name(version_dir):
    """``NAME/VERSION`` of an exported version folder: how metadata names it, without the machine's path."""
    version_dir = os.path.normpath(os.path.abspath(version_dir))
    return f"{os.path.basename(os.path.dirname(version_dir))}/{os.path.basename(version_dir)}"


# What an average's metadata keeps of its first model's.
KEPT_METADATA = ("method", "source", "target", "preset", "freq_bins", "frames", "config", "training_data")


def export_average(models, shares, name, base_dir=None, generator=None):
    """Export the weighted mean of exported models as the next version of ``name``.

    The export takes the first model's export settings (phase, overlap,
    input size, level matching) and metadata (`KEPT_METADATA`), and records
    the sources in ``averaged_from`` (``{NAME/VERSION: share}``).

    Parameters
    ----------
    models : list of str
        Exported model names or version folders, of one architecture.
    shares : list of float
        See `average_generators`.
    name : str
        The model to export into.
    base_dir : str, optional
        The export folder (`registry.models_dir` by default).
    generator : keras.Model, optional
        The mean, when the caller made it already (`average_generators`).

    Returns
    -------
    version_dir : str
    """
    from soundtransform import export, pipeline, registry

    version_dirs = [registry.find_version(m) for m in models]
    generator = generator or average_generators(version_dirs, shares)
    first = registry.read_metadata(version_dirs[0])
    metadata = {k: first[k] for k in KEPT_METADATA if k in first}
    metadata["averaged_from"] = {version_name(d): float(s) for d, s in zip(version_dirs, shares)}
    return export.export_generator(
        generator, name, metadata, base_dir=base_dir, phase=first.get("phase", "source"),
        n_iter=first.get("n_iter", 32), overlap=first.get("overlap"),
        upper_bins=first.get("upper_bins", pipeline.DEFAULT_UPPER_BINS),
        input_peak_db=first.get("input_peak_db", pipeline.DEFAULT_INPUT_PEAK_DB))

