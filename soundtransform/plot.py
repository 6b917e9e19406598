"""Spectrogram pictures: labelled axes in seconds and Hz, a dB colour bar.

Matplotlib's non-interactive backend only; every picture is written atomically.
"""

import numpy as np

from soundtransform import audio
from soundtransform.fileio import atomic_path


def image_to_db(image):
    """Image values in [-1, 1] -> dB re full scale, ``[freq, frames]``."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3:
        image = image[..., 0]
    return (1.0 - np.clip(image, -1.0, 1.0)) * audio.DB_FLOOR / 2.0


def save_spectrograms(path, images, titles=None, suptitle=None):
    """Draw one or more spectrogram images side by side into a PNG.

    Parameters
    ----------
    path : str
        Output ``.png``.
    images : list of np.ndarray [shape=(freq, frames[, 1])], values in [-1, 1]
    titles : list of str, optional
    suptitle : str, optional
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = titles or [None] * len(images)
    fig, axes = plt.subplots(
        1, len(images), figsize=(4.8 * len(images) + 1.2, 4.0), squeeze=False, constrained_layout=True
    )
    mesh = None
    for ax, image, title in zip(axes[0], images, titles):
        db = image_to_db(image)
        freq_bins, frames = db.shape
        extent = [0, frames * audio.HOP_LENGTH / audio.SAMPLE_RATE, 0, freq_bins * audio.SAMPLE_RATE / audio.N_FFT]
        mesh = ax.imshow(
            db, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=audio.DB_FLOOR, vmax=0
        )
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz)")
        if title:
            ax.set_title(title)
    fig.colorbar(mesh, ax=axes[0].tolist(), label="level (dB re full scale)")
    if suptitle:
        fig.suptitle(suptitle)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def save_waveform_spectrogram(path, y, title=None):
    """Picture of the spectrogram of waveform ``y [shape=(samples,)]`` at 16 kHz."""
    image, _ = audio.waveform_to_image(y)
    save_spectrograms(path, [image.numpy()], [title])
