import numpy as np
import pytest
import tensorflow as tf

from soundtransform import losses


def test_gram_matrix_matches_numpy(rng):
    features = rng.standard_normal((2, 5, 7, 3)).astype(np.float32)
    flat = features.reshape(2, 35, 3)
    expected = np.einsum("bpi,bpj->bij", flat, flat) / 35
    np.testing.assert_allclose(losses.gram_matrix(tf.constant(features)).numpy(), expected, rtol=1e-5)


def test_gram_matrix_does_not_depend_on_length(rng):
    # A clip repeated in time has the same texture statistics as the clip.
    features = rng.standard_normal((1, 4, 6, 3)).astype(np.float32)
    repeated = np.concatenate([features] * 3, axis=2)
    np.testing.assert_allclose(losses.gram_matrix(repeated).numpy(), losses.gram_matrix(features).numpy(),
                               rtol=1e-5)


def test_content_and_style_losses_vanish_only_at_the_target(rng):
    a = tf.constant(rng.standard_normal((1, 4, 4, 3)), tf.float32)
    b = tf.constant(rng.standard_normal((1, 4, 4, 3)), tf.float32)
    assert float(losses.content_loss(a, a)) == 0.0
    assert float(losses.content_loss(a, b)) > 0.0
    assert float(losses.style_loss([a, b], [losses.gram_matrix(a), losses.gram_matrix(b)])) == pytest.approx(0.0)
    assert float(losses.style_loss([a, b], [losses.gram_matrix(b), losses.gram_matrix(a)])) > 0.0


def test_envelopes_sum_the_right_axis():
    image = np.full((1, 4, 6, 1), -1.0, np.float32)
    image[0, 1, :, 0] = 1.0  # one loud bin all the time
    image[0, :, 2, 0] = 1.0  # one loud frame at all frequencies
    temporal = losses.temporal_envelope(image).numpy()[0]
    spectral = losses.spectral_envelope(image).numpy()[0]
    assert temporal.shape == (6,) and spectral.shape == (4,)
    assert temporal.argmax() == 2 and spectral.argmax() == 1
    assert temporal[2] == pytest.approx(1.0) and temporal[0] == pytest.approx(-0.5)


@pytest.mark.parametrize("freq_bins", [256, 128, 40])
@pytest.mark.parametrize("bands", [1, 8, 64])
def test_band_matrix_averages_each_row_into_one_mel_band(freq_bins, bands):
    m = losses.band_matrix(freq_bins, bands).numpy()
    assert m.shape == (freq_bins, bands)
    members = m > 0
    assert np.all(members.sum(axis=1) == 1)  # every row in exactly one band
    used = members.any(axis=0)
    np.testing.assert_allclose(m[:, used].sum(axis=0), 1.0, rtol=1e-6)  # each band a mean
    first = members.argmax(axis=1)
    assert np.all(np.diff(first) >= 0)  # bands run upward in frequency
    if 1 < bands <= freq_bins // 4:
        widths = members.sum(axis=0)[used]
        assert widths[-1] > widths[0]  # mel spacing: high bands hold more rows


def test_banded_envelope_keeps_each_band_own_decay():
    frames = 6
    image = np.full((1, 256, frames, 1), -1.0, np.float32)
    image[0, 5, :, 0] = np.linspace(1.0, -1.0, frames)  # a low partial that decays
    image[0, 200, :, 0] = np.linspace(-1.0, 1.0, frames)  # a high one that swells
    one = losses.temporal_envelope(image).numpy()[0]
    banded = losses.temporal_envelope(image, bands=16).numpy()[0]
    assert one.shape == (frames,) and banded.shape == (16, frames)
    np.testing.assert_allclose(one, one[0], atol=1e-6)  # one envelope: the two cancel out
    band_of = losses.band_matrix(256, 16).numpy().argmax(axis=1)
    low, high = banded[band_of[5]], banded[band_of[200]]
    assert band_of[5] < band_of[200]
    assert np.all(np.diff(low) < 0) and np.all(np.diff(high) > 0)
    # The banded loss sees the swap; the one-band loss does not.
    swapped = image.copy()
    swapped[0, 5, :, 0], swapped[0, 200, :, 0] = image[0, 200, :, 0], image[0, 5, :, 0]
    assert float(losses.energy_loss(swapped, losses.temporal_envelope(image))) == pytest.approx(0.0, abs=1e-10)
    assert float(losses.energy_loss(swapped, losses.temporal_envelope(image, 16), bands=16)) > 1e-4


def test_energy_and_frequency_losses_see_only_their_own_envelope():
    image = np.zeros((1, 4, 6, 1), np.float32)
    # Moving energy between bins within every frame keeps the temporal envelope.
    shuffled = image.copy()
    shuffled[0, 0] += 0.5
    shuffled[0, 1] -= 0.5
    assert float(losses.energy_loss(shuffled, losses.temporal_envelope(image))) == pytest.approx(0.0)
    assert float(losses.frequency_loss(shuffled, losses.spectral_envelope(image))) > 0.0
    # ... and moving it between frames within every bin keeps the spectral one.
    shifted = image.copy()
    shifted[0, :, 0] += 0.5
    shifted[0, :, 1] -= 0.5
    assert float(losses.frequency_loss(shifted, losses.spectral_envelope(image))) == pytest.approx(0.0)
    assert float(losses.energy_loss(shifted, losses.temporal_envelope(image))) > 0.0


def test_fine_structure_removes_a_smooth_envelope_and_keeps_harmonics():
    rows = np.arange(64)
    comb = np.where((rows % 8 == 0) & (rows > 0), 0.5, -1.0).astype(np.float32)
    ramp = np.linspace(-0.2, 0.4, 64, dtype=np.float32)
    images = np.broadcast_to((comb + ramp)[None, :, None, None], (1, 64, 4, 1))
    fine = losses.fine_structure(images).numpy()[0, :, 0, 0]
    # A constant image has none (edge rows too: padding is not counted) ...
    assert np.abs(losses.fine_structure(np.ones((1, 10, 2, 1), np.float32)).numpy()).max() < 1e-6
    # ... and the ramp is gone away from the edges, the peaks are where the harmonics are.
    np.testing.assert_allclose(fine[8:56], losses.fine_structure(
        np.broadcast_to(comb[None, :, None, None], (1, 64, 4, 1))).numpy()[0, 8:56, 0, 0], atol=1e-5)
    assert set(np.flatnonzero(fine > 0.5)) == {8, 16, 24, 32, 40, 48, 56}


def test_pitch_loss_tells_a_new_timbre_from_moved_harmonics(notes):
    from soundtransform import audio

    def image(note):
        y = audio.load(note.path)
        return audio.waveform_to_image(y, 256)[0][None, :, :256].numpy()

    flute = {n.pitch: n for n in notes if n.family == "flute"}
    keyboard = {n.pitch: n for n in notes if n.family == "keyboard"}
    x = image(flute[60])
    same_pitch = float(losses.pitch_loss(image(keyboard[60]), x))
    other_pitch = float(losses.pitch_loss(image(keyboard[67]), x))
    assert float(losses.pitch_loss(x, x)) == pytest.approx(0.0, abs=1e-3)
    # A keyboard playing the flute's note keeps most of its fine structure; a fifth up does not.
    assert same_pitch < 0.6 < other_pitch
    # Silent frames do not count: appending silence to both changes nothing.
    pad = -np.ones((1, 256, 64, 1), np.float32)
    longer = float(losses.pitch_loss(np.concatenate([image(keyboard[60]), pad], 2), np.concatenate([x, pad], 2)))
    assert longer == pytest.approx(same_pitch, abs=1e-4)
