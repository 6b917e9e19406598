"""The GAN networks (U-Net, ResNet generator, PatchGAN) on tiny configurations."""

import keras
import numpy as np
import pytest

from soundtransform.networks.patchgan import PatchGAN
from soundtransform.networks.resnet_generator import ResNetGenerator
from soundtransform.networks.unet import UNet

TINY = {
    UNet: dict(input_shape=(32, 64, 1), ngf=4, depth=5),
    ResNetGenerator: dict(input_shape=(32, 64, 1), ngf=4, n_residual_blocks=2),
    PatchGAN: dict(input_shape=(32, 64, 2), ndf=4, n_layers=2),
}


def _check_config_and_saving(network, tmp_path, images):
    """Shared helper: get_config rebuilds the same network; a .keras file reloads to the same output."""
    clone = type(network).from_config(network.get_config())
    assert clone.count_params() == network.count_params()
    assert [v.shape for v in clone.weights] == [v.shape for v in network.weights]
    path = str(tmp_path / f"{network.name}.keras")
    network.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert type(loaded) is type(network)
    np.testing.assert_allclose(loaded(images, training=False), network(images, training=False), atol=1e-6)


@pytest.mark.parametrize("cls", [UNet, ResNetGenerator])
def test_generators_keep_the_image_shape_and_range(cls, rng, tmp_path):
    network = cls(**TINY[cls], name="net")
    images = rng.uniform(-1, 1, (2, 32, 64, 1)).astype(np.float32)
    out = network(images, training=False).numpy()
    assert out.shape == images.shape
    assert np.all(np.abs(out) <= 1.0) and out.std() > 0
    _check_config_and_saving(network, tmp_path, images)


def test_patchgan_gives_one_logit_per_patch(rng, tmp_path):
    network = PatchGAN(**TINY[PatchGAN], name="net")
    images = rng.uniform(-1, 1, (2, 32, 64, 2)).astype(np.float32)
    logits = network(images, training=False).numpy()
    assert logits.shape == (2, 32 // 4, 64 // 4, 1)  # two stride-2 layers
    _check_config_and_saving(network, tmp_path, images)


@pytest.mark.parametrize("ngf", [4, 8])
@pytest.mark.parametrize("depth", [4, 5])
def test_unet_width_and_depth_are_parameters(ngf, depth):
    network = UNet((32, 32, 1), ngf=ngf, depth=depth)
    inner = network.get_layer(f"down{depth}_conv")
    assert inner.output.shape[1:3] == (32 // 2**depth, 32 // 2**depth)
    assert network.get_layer("down1_conv").filters == ngf

