"""A phrase longer than the training window: one call equals the windows converted alone, cross-faded."""

import numpy as np
import pytest

from soundtransform import audio, convert, export, phrases, pipeline
from soundtransform.networks.unet import UNet

FREQ_BINS, FRAMES, OVERLAP = 32, 32, 8
HOP = FRAMES - OVERLAP


@pytest.fixture(scope="module")
def long_phrase(tmp_path_factory):
    """A 10-s flute phrase (about 20 windows of 32 frames) and its notes."""
    root = str(tmp_path_factory.mktemp("long_phrase"))
    phrases.render_phrases(root, melodies=1, soundfonts=["TimGM6mb"], families=["flute"], seconds=10.0,
                           progress=False)
    phrase = [p for split in ("train", "valid", "test") for p in phrases.read_phrases(root, split)][0]
    y = audio.load(phrase.path)
    # At the level the export matches every input to, so its gain is 1 and the hand-made path below needs none.
    y = (y * 10 ** (pipeline.DEFAULT_INPUT_PEAK_DB / 20) / np.max(np.abs(y))).astype(np.float32)
    return y, phrase.notes


@pytest.fixture(scope="module")
def converter(tmp_path_factory):
    """A tiny untrained pix2pix U-Net (its receptive field is the whole window), exported with source phase."""
    import keras

    keras.utils.set_random_seed(7)
    generator = UNet((FREQ_BINS, FRAMES, 1), ngf=4, depth=5, norm="instance", dropout=0.5, name="generator")
    base = str(tmp_path_factory.mktemp("models"))
    version = export.export_generator(generator, "seams", {"method": "cgan", "source": "flute", "target": "keyboard"},
                                      base_dir=base, overlap=OVERLAP, phase="source")
    return convert.load_model(version)


def _windows_alone(converter, image):
    """Each window of ``image [freq, T]`` through the model on its own, as the export cuts them."""
    T = image.shape[1]
    n = 1 + -(-max(T - FRAMES, 0) // HOP)
    padded = np.pad(image, [(0, 0), (0, (n - 1) * HOP + FRAMES - T)], constant_values=-1.0)
    return [converter.transform_images(padded[None, :, k * HOP:k * HOP + FRAMES, None])[0, :, :, 0]
            for k in range(n)]


def test_long_phrase_in_one_call_equals_window_by_window(long_phrase, converter):
    y, _ = long_phrase
    full, phase = audio.waveform_to_image(np.pad(y, [0, audio.HOP_LENGTH]))  # as the export's graph does
    image = full[:FREQ_BINS, :, 0].numpy()
    T = image.shape[1]
    one_call = converter.transform_images(image[None, :, :, None])[0, :, :, 0]
    alone = _windows_alone(converter, image)
    assert len(alone) >= 15
    # 1. Away from the joins each frame comes from one window only: exactly that window's output.
    for k, window in enumerate(alone):
        lo, hi = (0 if k == 0 else OVERLAP), min(FRAMES - OVERLAP, T - k * HOP)
        np.testing.assert_allclose(one_call[:, k * HOP + lo:k * HOP + hi], window[:, lo:hi], atol=1e-5,
                                   err_msg=f"window {k}")
    # 2. In the joins: the raised-cosine cross-fade of the two windows, nothing else.
    weights = pipeline.crossfade_weights(FRAMES, OVERLAP)
    total = np.zeros((FREQ_BINS, (len(alone) - 1) * HOP + FRAMES))
    norm = np.zeros(total.shape[1])
    for k, window in enumerate(alone):
        total[:, k * HOP:k * HOP + FRAMES] += weights * window
        norm[k * HOP:k * HOP + FRAMES] += weights
    assembled = (total / norm)[:, :T]
    np.testing.assert_allclose(one_call, assembled, atol=1e-5)
    # 3. The waveform path is that image, inverted with the input's phase: windows alone + cross-fade.
    expected = audio.image_to_waveform(assembled[:, :, None].astype(np.float32), len(y) + audio.HOP_LENGTH,
                                       phase="source", source_phase=phase).numpy()[:len(y)]
    got = converter.convert(y)
    assert got.shape == y.shape
    assert np.max(np.abs(got - expected)) <= 1e-4
    # 4. The windows disagree where they overlap (the model is not trivial), so the cross-fade matters.
    k = len(alone) // 2
    assert np.mean(np.abs(alone[k][:, -OVERLAP:] - alone[k + 1][:, :OVERLAP])) > 1e-3
