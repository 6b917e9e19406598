"""Pictures: spectrograms (axes in seconds and Hz, a dB colour bar), confusion matrices, t-SNE maps.

Matplotlib's non-interactive backend only; every picture is written atomically.
"""

import numpy as np

from soundtransform import audio, data
from soundtransform.fileio import atomic_path


def _pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig, path):
    """Write a figure to ``path`` as a PNG, atomically, and close it."""
    plt = _pyplot()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


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
    plt = _pyplot()
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
    _save_png(fig, path)


def save_waveform_spectrogram(path, y, title=None):
    """Picture of the spectrogram of waveform ``y [shape=(samples,)]`` at 16 kHz."""
    image, _ = audio.waveform_to_image(y)
    save_spectrograms(path, [image.numpy()], [title])


def save_confusion_matrix(path, confusion, title=None):
    """Draw a ``[11, 11]`` confusion matrix (row-normalised shares) into a PNG."""
    plt = _pyplot()
    confusion = np.asarray(confusion, np.float64)
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), constrained_layout=True)
    mesh = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(data.FAMILIES)), data.FAMILIES, rotation=60, ha="right")
    ax.set_yticks(range(len(data.FAMILIES)), data.FAMILIES)
    ax.set_xlabel("predicted family")
    ax.set_ylabel("true family")
    for i in range(len(data.FAMILIES)):
        for j in range(len(data.FAMILIES)):
            if confusion[i, j]:
                ax.text(j, i, f"{shares[i, j]:.2f}".lstrip("0"), ha="center", va="center", fontsize=6,
                        color="white" if shares[i, j] > 0.5 else "black")
    fig.colorbar(mesh, ax=ax, label="share of the true family")
    if title:
        ax.set_title(title)
    _save_png(fig, path)


def save_tsne(path, features, groups, labels, seed=0, title=None):
    """t-SNE (van der Maaten & Hinton 2008) map of feature vectors, one colour per group, into a PNG.

    Parameters
    ----------
    path : str
        Output ``.png``.
    features : np.ndarray [shape=(n, d)]
    groups : np.ndarray [shape=(n,)] of str, ``"source"``, ``"target"`` or ``"generated"``
    labels : dict
        Legend text of each group.

    Returns
    -------
    np.ndarray [shape=(n, 2)], the map's coordinates
    """
    from sklearn.manifold import TSNE

    features = np.asarray(features, np.float64)
    perplexity = float(max(2, min(30, (len(features) - 1) // 3)))
    xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.2), constrained_layout=True)
    for group, marker in zip(("source", "target", "generated"), ("o", "s", "^")):
        mask = np.asarray(groups) == group
        if mask.any():
            ax.scatter(xy[mask, 0], xy[mask, 1], s=14, marker=marker, alpha=0.75, label=labels.get(group, group))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "t-SNE of classifier features")
    _save_png(fig, path)
    return xy
