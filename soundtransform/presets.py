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
        "tiny": dict(width=1 / 16, dense_units=16, learning_rate=1e-3, seed=0, families=None,
                     train_splits="train", patience=0, gain_db=10.0, shift_frames=8, freq_mask=0, time_mask=0,
                     note_frames=None, head="flatten", norm="none", dropout=0.5),
        # Trained on random 1-s windows of whole notes, ~2.2 min an epoch on 2
        # shared cores.  No XLA: its compile of the random window (a dynamic
        # slice) did not finish in 5 min; without it a step takes 0.11 s.
        "default": dict(width=1 / 8, dense_units=256, learning_rate=1e-3, seed=0, families=None, jit_compile=False,
                        freq_bins=128, frames=64, note_frames=256, head="average", norm="batch", batch_size=16, epochs=5,
                        train_splits="train", patience=3, gain_db=10.0, shift_frames=0, freq_mask=12, time_mask=8),
        "paper": dict(width=1.0, dense_units=4096, learning_rate=1e-4, seed=0, families=None,
                      train_splits="train", patience=5, gain_db=10.0, shift_frames=8, freq_mask=12, time_mask=16,
                      note_frames=None, head="flatten", norm="none"),
    },
    # Slow (Gatys et al. 2016 + Verma & Smith 2018): no training; steps of Adam
    # on the spectrogram image.  alpha/beta/gamma/delta weight the content,
    # style, energy and frequency terms.  XLA is off: measured 4x slower than
    # TensorFlow's oneDNN convolutions for this loop on this CPU.  The
    # frequency constraint is off by default in Slow and Faster: measured, it
    # costs pitch (docs/history.md, "Slow and Faster: measured"); the paper presets keep it.
    # default: 40 steps and 8 Griffin-Lim iterations keep a 4 s clip under 4 s
    # on 2 loaded cores (style loss then ~half its start; benchmarks/bench_slow.py).
    # gamma=300: the energy term's gradient is spread over a frame's 256 rows,
    # so at gamma=1 it hardly makes the note decay; the judge then heard 0 % of
    # Slow's outputs as keyboard, at 300 42 % (docs/history.md, "Slow and Faster: measured").
    # energy_bands=64, gamma=3000 (nineteenth session): one envelope for the
    # whole spectrum left the flute's partials sustaining under a decaying
    # mean, which the floored judge called mallet (6 % keyboard); an envelope
    # per mel band gives each partial the style's decay.  Chosen on 59 valid
    # flutes: 1 band 25 %, 16 bands 64 %, 24 73 %, 64 86 % judged keyboard,
    # pitch 100 % (docs/history.md, "Nineteenth session").
    "slow": {
        "tiny": dict(classifier="exported_models/classifiers/perceptual.keras", steps=10, learning_rate=0.02,
                     alpha=1.0, beta=1.0, gamma=0.0, delta=0.0, energy_bands=1, init="content",
                     phase="griffin-lim", content_layer="block2_conv2", style_layers=("block1_conv1", "block2_conv1"),
                     griffin_lim_iters=8, seed=0, jit_compile=False),
        "default": dict(classifier="exported_models/classifiers/perceptual.keras", steps=40, learning_rate=0.02,
                        alpha=1.0, beta=1.0, gamma=3000.0, delta=0.0, energy_bands=64, init="content",
                        phase="griffin-lim", content_layer="block4_conv2",
                        style_layers=("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1"),
                        griffin_lim_iters=8, seed=0, jit_compile=False),
        "paper": dict(classifier="exported_models/classifiers/perceptual.keras", steps=1000, learning_rate=0.01,
                      alpha=1.0, beta=1.0, gamma=1.0, delta=1.0, energy_bands=1, init="noise",
                      phase="griffin-lim", content_layer="block4_conv2",
                      style_layers=("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                                    "block5_conv1"),
                      griffin_lim_iters=100, seed=0, jit_compile=False),
    },
    # Faster (Johnson et al. 2016 + Verma & Smith 2018): a transform_net trained
    # on the source family against the target family's Gram statistics.
    # default: width 8 at 256x256 measured 0.6 s per batch of 4 on 2 busy
    # cores (width 16: 2 s; XLA 3.5x slower), so 10 x 100 steps take ~10 min
    # (22-25 min at load 9-10).  gamma stays 1: its targets are the family's
    # mean envelopes, and at gamma=300 every output became one average note
    # (docs/history.md, "Slow and Faster: measured").  select_by="judge": the validation
    # losses stay flat while the judged share moves (fourteenth session), so
    # the judge on valid flutes picks the exported epoch, as for the GANs.
    "faster": {
        "tiny": dict(classifier="exported_models/classifiers/perceptual.keras", export_dir=None,
                     width=4, residual_blocks=1, learning_rate=1e-3, seed=0, style_notes=8, examples=2,
                     style_target="family", content_target="input", target_instruments="one", energy_bands=1,
                     alpha=1.0, beta=1.0, gamma=1.0, delta=1.0,
                     content_layer="block2_conv2", style_layers=("block1_conv1", "block2_conv1"),
                     select_by="last", select_notes=8, judge=None, train_on="notes", ema_decay=None,
                     init_from=None, augment_gain_db=0.0, augment_noise_db=None,
                     augment_noise_where="everywhere", augment_on="all"),
        "default": dict(classifier="exported_models/classifiers/perceptual.keras", export_dir=None,
                        width=8, residual_blocks=5, learning_rate=1e-3, seed=0, style_notes=256, examples=4,
                        style_target="family", content_target="input", target_instruments="one", energy_bands=1,
                        alpha=1.0, beta=1.0, gamma=1.0, delta=0.0,
                        content_layer="block4_conv2",
                        style_layers=("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1"),
                        batch_size=4, epochs=10, steps_per_epoch=100, jit_compile=False,
                        select_by="judge", select_notes=64, judge=None, train_on="notes", ema_decay=None,
                        init_from=None, augment_gain_db=0.0, augment_noise_db=None,
                        augment_noise_where="everywhere", augment_on="all"),
        "paper": dict(classifier="exported_models/classifiers/perceptual.keras", export_dir=None,
                      width=32, residual_blocks=5, learning_rate=1e-3, seed=0, style_notes=None, examples=4,
                      style_target="family", content_target="input", target_instruments="one", energy_bands=1,
                      alpha=1.0, beta=1.0, gamma=1.0, delta=1.0,
                      content_layer="block4_conv2",
                      style_layers=("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                                    "block5_conv1"),
                      batch_size=4, epochs=2, jit_compile=False, select_by="judge", select_notes=64, judge=None,
                      train_on="notes", ema_decay=None, init_from=None, augment_gain_db=0.0,
                      augment_noise_db=None, augment_noise_where="everywhere", augment_on="all"),
    },
    # ``train_on``: "notes", "phrases" (windows of rendered phrases) or "both"
    # (methods/cgan.py TRAIN_ON), for pix2pix and CycleGAN.
    # pix2pix (Isola et al. 2017): U-Net generator, conditional PatchGAN, paired
    # notes.  Default: all 256 rows (0-8 kHz) x 256 frames (one whole note), ngf
    # 16: with 128 rows (0-4 kHz) the outputs lacked the keyboard's upper band
    # and the judge heard 4 % of them as keyboard (docs/history.md, "Every
    # method and direction at a glance").  Source
    # phase: same spectral distance as Griffin-Lim, better pitch, 4x faster.
    # 20 epochs, exporting the epoch the judge likes best on valid flutes
    # (select_by="judge"): the shipped run's valid score swung 46-86 % over
    # epochs 8-30 and peaked at epoch 20.
    # XLA off (measured 2.9x slower per step with it on this CPU).
    "cgan": {
        "tiny": dict(ngf=4, depth=5, ndf=4, n_layers=2, norm="instance", dropout=0.5, lambda_l1=100.0,
                     gan_mode="bce", learning_rate=2e-4, beta_1=0.5, seed=0, source_instruments="all",
                     target_instruments="one", max_targets=None, examples=2, export_dir=None,
                     phase="griffin-lim", train_on="notes", select_by="last", select_notes=8, judge=None,
                     ema_decay=None, extra_sources="none", augment_gain_db=0.0,
                     augment_noise_db=None, augment_noise_where="everywhere", augment_on="all", init_from=None,
                     lambda_energy=0.0, energy_bands=1, phrase_hop=None, decay_from=None),
        "default": dict(ngf=16, depth=7, ndf=16, n_layers=3, norm="instance", dropout=0.5, lambda_l1=100.0,
                        gan_mode="bce", learning_rate=2e-4, beta_1=0.5, seed=0, source_instruments="all",
                        target_instruments="one", max_targets=None, examples=4, export_dir=None,
                        phase="source", train_on="notes", freq_bins=256, frames=256, batch_size=8, epochs=20,
                        jit_compile=False, select_by="judge", select_notes=64, judge=None, ema_decay=None,
                        extra_sources="none", augment_gain_db=0.0, augment_noise_db=None,
                        augment_noise_where="everywhere", augment_on="all", init_from=None, lambda_energy=0.0,
                        energy_bands=1, phrase_hop=None, decay_from=None),
        "paper": dict(ngf=64, depth=8, ndf=64, n_layers=3, norm="instance", dropout=0.5, lambda_l1=100.0,
                      gan_mode="bce", learning_rate=2e-4, beta_1=0.5, seed=0, source_instruments="all",
                      target_instruments="one", max_targets=None, examples=4, export_dir=None,
                      phase="griffin-lim", train_on="notes", batch_size=1, epochs=200, select_by="judge",
                      select_notes=64, judge=None, ema_decay=None, extra_sources="none",
                      augment_gain_db=0.0, augment_noise_db=None, augment_noise_where="everywhere", augment_on="all",
                      init_from=None, lambda_energy=0.0, energy_bands=1, phrase_hop=None, decay_from=None),
    },
    # CycleGAN (Zhu et al. 2017): two ResNet generators, two PatchGANs,
    # unpaired notes, least-squares adversarial loss; source-phase inversion (as
    # the cgan: measured better pitch than Griffin-Lim, same spectral distance).
    # Paper: the paper's shape and schedule, 100 epochs at 2e-4, then a linear
    # fall over the next 100 (decay_from=101, callbacks.LinearDecay).
    # Default: ngf 8 with three down-samplings and 4 residual blocks (6
    # generator passes per step make the paper's shape 5x slower); XLA off
    # (measured 9x slower per step with it).
    "cyclegan": {
        "tiny": dict(ngf=4, n_downsampling=2, n_residual_blocks=1, ndf=4, n_layers=2, norm="instance",
                     lambda_cycle=10.0, lambda_identity=0.5, gan_mode="lsgan", learning_rate=2e-4, beta_1=0.5,
                     lambda_pitch=0.0, pitch_width=9,
                     seed=0, source_instruments="all", target_instruments="one", examples=2, export_dir=None,
                     phase="griffin-lim", train_on="notes", select_by="last", select_notes=8, judge=None,
                     ema_decay=None, init_from=None, decay_from=None, augment_gain_db=0.0, augment_noise_db=None,
                     augment_noise_where="everywhere", augment_on="all", input_peak_db=None),
        "default": dict(ngf=8, n_downsampling=3, n_residual_blocks=4, ndf=16, n_layers=3, norm="instance",
                        lambda_cycle=10.0, lambda_identity=0.5, gan_mode="lsgan", learning_rate=2e-4, beta_1=0.5,
                        lambda_pitch=0.0, pitch_width=9,
                        seed=0, source_instruments="all", target_instruments="one", examples=4, export_dir=None,
                        phase="source", train_on="notes", freq_bins=128, frames=256, batch_size=4, epochs=6,
                        jit_compile=False, select_by="judge", select_notes=64, judge=None, ema_decay=None,
                        init_from=None, decay_from=None, augment_gain_db=0.0, augment_noise_db=None,
                        augment_noise_where="everywhere", augment_on="all", input_peak_db=None),
        "paper": dict(ngf=64, n_downsampling=2, n_residual_blocks=9, ndf=64, n_layers=3, norm="instance",
                      lambda_cycle=10.0, lambda_identity=0.5, gan_mode="lsgan", learning_rate=2e-4, beta_1=0.5,
                      lambda_pitch=0.0, pitch_width=9,
                      seed=0, source_instruments="all", target_instruments="one", examples=4, export_dir=None,
                      phase="griffin-lim", train_on="notes", batch_size=1, epochs=200, select_by="judge",
                      select_notes=64, judge=None, ema_decay=None, init_from=None, decay_from=101,
                      augment_gain_db=0.0, augment_noise_db=None, augment_noise_where="everywhere", augment_on="all",
                      input_peak_db=None),
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
