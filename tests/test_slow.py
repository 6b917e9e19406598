import numpy as np
import pytest

from soundtransform import audio, losses
from soundtransform.errors import DataError, ParameterError


@pytest.fixture(scope="module")
def tiny_classifier():
    import keras

    from soundtransform.networks.vgg19_audio import VGG19AudioClassifier

    keras.utils.set_random_seed(0)
    return VGG19AudioClassifier(input_shape=(32, 32, 1), width=1 / 16, dense_units=8)


@pytest.fixture(scope="module")
def flute_and_keyboard(notes):
    flute = next(n for n in notes if n.family == "flute" and n.pitch == 60)
    keyboard = next(n for n in notes if n.family == "keyboard" and n.pitch == 67)
    return audio.load(flute.path), audio.load(keyboard.path)


def _images(flute_and_keyboard):
    content, style = flute_and_keyboard
    return audio.waveform_to_image(content)[0][None], audio.waveform_to_image(style)[0][None]


def test_perceptual_features_are_fully_convolutional(tiny_classifier):
    from soundtransform.methods.classifier import perceptual_features

    features = perceptual_features(tiny_classifier, ["block2_conv2", "block1_conv1"])
    deep, shallow = features(np.zeros((1, 64, 40, 1), np.float32))
    assert deep.shape == (1, 32, 20, 8) and shallow.shape == (1, 64, 40, 4)
    # Same weights as the classifier's own layer.
    conv = tiny_classifier.get_layer("block1_conv1")
    image = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(features(image)[1].numpy(), conv(image).numpy(), atol=1e-5)
    with pytest.raises(ParameterError, match="unknown VGG-19 layers"):
        perceptual_features(tiny_classifier, ["block9_conv1"])


def test_loop_lowers_its_loss(tiny_classifier, flute_and_keyboard):
    from soundtransform.methods.slow import SlowStyleTransfer

    content, style = _images(flute_and_keyboard)
    transfer = SlowStyleTransfer(tiny_classifier, content_layer="block2_conv2",
                                 style_layers=("block1_conv1", "block2_conv1"), beta=1e3, jit_compile=False)
    image, history = transfer(content, style, steps=15, init="noise")
    assert image.shape == content.shape
    assert float(np.abs(image).max()) <= 1.0
    assert len(history["total"]) == 16
    assert history["total"][-1] < 0.7 * history["total"][0]


@pytest.mark.parametrize("weight, term, other", [("gamma", "energy", "frequency"),
                                                 ("delta", "frequency", "energy")])
def test_each_constraint_moves_its_own_envelope(tiny_classifier, flute_and_keyboard, weight, term, other):
    from soundtransform.methods.slow import SlowStyleTransfer

    content, style = _images(flute_and_keyboard)
    weights = dict(alpha=0.0, beta=0.0, gamma=0.0, delta=0.0)
    weights[weight] = 1.0
    transfer = SlowStyleTransfer(tiny_classifier, content_layer="block2_conv2", style_layers=("block1_conv1",),
                                 jit_compile=False, **weights)
    image, history = transfer(content, style, steps=15)
    # The constrained envelope moves toward the style's ...
    assert history[term][-1] < 0.5 * history[term][0]
    envelope = {"energy": losses.temporal_envelope, "frequency": losses.spectral_envelope}[term]
    before = np.abs(envelope(content) - envelope(style)).mean()
    after = np.abs(envelope(image) - envelope(style)).mean()
    assert after < 0.7 * before
    # ... and the image changed.
    assert float(np.abs(image - content).max()) > 0.05


def test_banded_energy_constraint_moves_every_band_toward_the_style(tiny_classifier, flute_and_keyboard):
    from soundtransform.methods.slow import SlowStyleTransfer

    content, style = _images(flute_and_keyboard)
    bands = 16
    runs = {}
    for energy_bands in (1, bands):
        transfer = SlowStyleTransfer(tiny_classifier, content_layer="block2_conv2", style_layers=("block1_conv1",),
                                     alpha=0.0, beta=0.0, gamma=1.0, energy_bands=energy_bands, learning_rate=0.05,
                                     jit_compile=False)
        image, history = transfer(content, style, steps=30)
        assert history["energy"][-1] < 0.5 * history["energy"][0]
        runs[energy_bands] = image
    target = losses.temporal_envelope(style, bands)

    def distance(image):
        return float(np.abs(losses.temporal_envelope(image, bands) - target).mean())

    # One envelope leaves the bands' own decays where they were; one per band moves them.
    assert distance(runs[bands]) < 0.5 * distance(content)
    assert distance(runs[bands]) < 0.7 * distance(runs[1])


def test_stylize_waveform_in_waveform_out(tiny_classifier, flute_and_keyboard, tmp_path):
    from soundtransform.methods.slow import stylize

    content, style = flute_and_keyboard
    content = content[: 3 * audio.SAMPLE_RATE]  # any length; the style is longer
    y, history = stylize(content, style, classifier=tiny_classifier, preset="tiny", steps=4, gamma=1.0,
                         progress=False, return_history=True)
    assert y.dtype == np.float32 and y.shape == content.shape
    assert np.all(np.isfinite(y)) and audio.peak_db(y) > -40
    assert history["total"][-1] < history["total"][0]
    # A saved classifier works by path too.
    path = tmp_path / "perceptual.keras"
    tiny_classifier.save(path)
    y2 = stylize(content, style, classifier=str(path), preset="tiny", steps=0, phase="source", progress=False)
    assert audio.snr_db(content, y2) > 20  # zero steps + source phase gives the content back


def test_style_is_moved_to_the_contents_pitch(tiny_classifier, flute_and_keyboard):
    from soundtransform import tuning
    from soundtransform.methods.slow import stylize

    content, style = flute_and_keyboard  # a flute's C4 and a keyboard's G4
    moved, ratio = tuning.match_pitch(style, content)
    assert ratio == pytest.approx(2 ** (-7 / 12), rel=0.02)
    assert moved.size == pytest.approx(style.size / ratio, rel=0.01)
    assert abs(1200 * np.log2(tuning.median_f0(moved) / tuning.median_f0(content))) < 30
    silence = np.zeros(audio.SAMPLE_RATE, np.float32)  # no pitch: left as it is
    same, ratio = tuning.match_pitch(silence, content)
    assert ratio == 1.0 and np.array_equal(same, silence)
    with pytest.raises(ParameterError, match="style_pitch"):
        stylize(content, style, classifier=tiny_classifier, preset="tiny", style_pitch="up", progress=False)


def test_stylize_fails_clearly(tiny_classifier, flute_and_keyboard, tmp_path):
    from soundtransform.methods.slow import stylize

    content, style = flute_and_keyboard
    with pytest.raises(ParameterError, match="init"):
        stylize(content, style, classifier=tiny_classifier, preset="tiny", init="zeros", progress=False)
    with pytest.raises(ParameterError, match="phase"):
        stylize(content, style, classifier=tiny_classifier, preset="tiny", phase="none", progress=False)
    for bad in (0, 2.5, "many", audio.N_FREQ + 1):
        with pytest.raises(ParameterError, match="energy_bands must be a whole number"):
            stylize(content, style, classifier=tiny_classifier, preset="tiny", energy_bands=bad, progress=False)
    with pytest.raises(DataError, match="no classifier"):
        stylize(content, style, classifier=str(tmp_path / "none.keras"), preset="tiny", progress=False)
    with pytest.raises(DataError, match="samples long"):
        stylize(content[:100], style, classifier=tiny_classifier, preset="tiny", progress=False)


def test_stylize_reuses_its_traced_step_across_files_and_lengths(tiny_classifier, flute_and_keyboard):
    from soundtransform.methods import slow

    content, style = flute_and_keyboard
    transfers = []
    for seconds in (3, 2, 3):  # a folder of clips of several lengths
        y = slow.stylize(content[: seconds * audio.SAMPLE_RATE], style, classifier=tiny_classifier, preset="tiny",
                         steps=2, gamma=1.0, progress=False)
        assert y.shape == (seconds * audio.SAMPLE_RATE,)
        transfers.append(slow._LAST["transfer"])
    first = transfers[0]
    assert all(t is first for t in transfers)
    assert first._step.experimental_get_tracing_count() == 1
    # Banded envelopes ([1, bands, frames]) are traced once for every length too.
    for seconds in (3, 2):
        slow.stylize(content[: seconds * audio.SAMPLE_RATE], style, classifier=tiny_classifier, preset="tiny",
                     steps=2, gamma=1.0, energy_bands=8, progress=False)
    assert slow._LAST["transfer"] is not first
    assert slow._LAST["transfer"]._step.experimental_get_tracing_count() == 1
    # Other loss weights are another optimisation: a new transfer.
    slow.stylize(content, style, classifier=tiny_classifier, preset="tiny", steps=1, gamma=0.0, progress=False)
    assert slow._LAST["transfer"] is not first
