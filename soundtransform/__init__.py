"""soundtransform: one instrument's sound into another's, by style transfer on spectrograms.

The public Python API, for notebooks and pipelines.  ``import soundtransform``
stays cheap: a model with an ONNX file loads in ONNX Runtime, and TensorFlow
is imported only for one without (`soundtransform.lite`)::

    import soundtransform
    model = soundtransform.load_model("cgan_flute_to_keyboard")   # or a folder / .keras file
    y = model.convert(waveform, sample_rate=44100)               # same length and rate
    soundtransform.convert_file("in.wav", "out.wav", model="cgan_flute_to_keyboard")
    soundtransform.list_models()
"""

__all__ = ["load_model", "convert_file", "list_models"]


def load_model(model=None, **options):
    """Load a model for conversion; see `soundtransform.convert.load_model`."""
    from soundtransform.convert import load_model as _load_model

    return _load_model(model, **options)


def convert_file(in_path, out_path, model=None, **options):
    """Convert one audio file; see `soundtransform.convert.convert_file`."""
    from soundtransform.convert import convert_file as _convert_file

    return _convert_file(in_path, out_path, model=model, **options)


def list_models(base_dir=None):
    """Exported models with their metadata; see `soundtransform.registry.list_models`."""
    from soundtransform.registry import list_models as _list_models

    return _list_models(base_dir)
