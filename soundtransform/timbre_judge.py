"""The independent judge of instrument family: timbre statistics and a logistic regression.

Why not a second VGG-19
    The judge decides the headline figure (the share of outputs heard as the
    target family), so it must generalise to instruments it never heard and
    must not share features with the networks it judges.  Measured on the
    rendered SoundFont data (test split: 33 instruments no classifier heard),
    a VGG-19 at 1/8 width trained on train+valid reached 42.8 % accuracy and
    recognised 27 % of natural keyboard notes; this judge reaches about 55 %
    and over 80 % of keyboard notes (README, "Classifier and evaluation").
    With ~11 instruments per family, a few hundred fixed statistics generalise
    better than a network that can learn each instrument's spectrum by heart,
    and Slow and Faster, which optimise VGG features, cannot fool it through
    those features.

Features (`timbre_features`; `FEATURE_SETS`)
    ``"timbre"``, 238 per window: on the project's STFT (`audio.stft`) of
    one NSynth-length window, mean and standard deviation over the sounding
    frames (within 40 dB of the loudest) of 20 MFCCs, their deltas and 64
    log-mel bands (dB re the window's peak, so gain does not matter); the
    frame energy envelope in dB re its peak at 24 points (attack, sustain and
    decay: what tells a piano from an organ); where the peak is and how much
    of the window sounds; and mean and deviation of log spectral flatness and
    log centroid.  Classic instrument-recognition descriptors (Eronen &
    Klapuri 2000; Peeters et al. 2011, "The Timbre Toolbox").
    ``"robust"``, 306: those, then what a room, EQ and a noise floor change
    least: the energy envelopes of 4 groups of mel bands, each in dB re its
    own peak, at 12 points; spectral contrast in 5 octave bands (Jiang et al.
    2002); the decay rate (dB/s) over the first second after the peak and
    over the whole sounding part; and the harmonicity of each frame (cepstral
    peak prominence, Hillenbrand et al. 1994; the count and density of
    partials), which tells a piano's full harmonic series from a struck bar's
    few partials.

The floor (`FLOOR_DB`)
    Every bin quieter than 50 dB below the window's loudest bin is raised to
    that level before any feature is computed, so what lies under it (a
    release's last tail, dither, how a file was quantised) cannot move the
    verdict.  Without it the verdict hung on the last bit: one cgan's outputs
    of the 222 test flutes were judged keyboard 91 % of the time from files
    rounded to 16 bits and 78 % from files libsndfile had rounded toward
    minus infinity, and the same judge trained on the same notes rendered
    with rounding gave 55 % and 25 %.  With the floor, floats and both kinds
    of file get the same verdict (docs/experiments.md, "The judge hears the noise floor").

Model
    A ``keras.Model`` that standardises the features and applies one
    ``Dense(11)`` softmax with an L2 penalty: multinomial logistic regression
    (or, with ``hidden=N``, one ReLU layer of N units first), trained through
    ``Model.fit`` with its own ``train_step``.  Its embedding (`embed`) is
    the standardised features, the space of the Fréchet distance of
    `evaluate.naturalness`.

Windows
    A clip is cut into `WINDOW_SAMPLES` (4 s, one NSynth note) windows, the
    last one aligned with the end; a shorter clip is padded with silence.  The
    probabilities of the windows are averaged.

Phrases, note by note (``unit="note"``)
    A window of a melody is no single note: the judge trained on notes called
    none of 96 natural keyboard phrase windows keyboard (README, "Phrases").
    A judge with ``unit="note"`` (the shipped ``phrase_judge.keras``, trained
    on NSynth notes and on the notes of rendered phrases) judges a window of a
    phrase whose notes are known (the JSON beside it) one note at a time:
    each note's segment, from its onset to the next onset (or the window's
    end), clipped to the window, gets the same features computed over its own
    frames (`note_segments`, `segment_features`); the window's probabilities
    are the segments' probabilities averaged with their lengths as weights.
    A window with no segment of at least `SEGMENT_MIN_SAMPLES` is judged whole.
"""

import keras
import numpy as np

from soundtransform import audio, data

WINDOW_SAMPLES = int(audio.NOTE_SECONDS * audio.SAMPLE_RATE)
N_MELS = 64
N_MFCC = 20
ENVELOPE_POINTS = 24
SOUNDING_DB = -40.0  # frames within this of the loudest one carry the timbre statistics
FLOOR_DB = -50.0  # the features see nothing quieter than this re the window's loudest STFT bin
N_FEATURES = 2 * (2 * N_MFCC + N_MELS) + ENVELOPE_POINTS + 2 + 4
ENVELOPE_BANDS = 4  # "robust": mel bands split into this many groups, each with its own energy envelope
BAND_ENVELOPE_POINTS = 12
CONTRAST_BANDS = 5  # octave bands of spectral contrast from 200 Hz (to 6.4 kHz)
FEATURE_SETS = {  # name -> features per window (module docstring)
    "timbre": N_FEATURES,
    "robust": N_FEATURES + ENVELOPE_BANDS * BAND_ENVELOPE_POINTS + 2 * (CONTRAST_BANDS + 1) + 2 + 6,
}
PEAK_DB = -30.0  # "robust": spectral peaks within this of the frame's loudest bin are partials
CEPSTRUM_F0_HZ = (60.0, 1100.0)  # "robust": where the cepstral peak is looked for
SEGMENT_MIN_SAMPLES = int(0.2 * audio.SAMPLE_RATE)  # 12 frames: shorter pieces carry no usable envelope
UNITS = ("window", "note")  # what a judge classifies in a phrase (module docstring)


def _windows(y):
    """``[n, WINDOW_SAMPLES]`` windows of one clip (see the module docstring)."""
    y = np.asarray(y, np.float32)
    if y.size <= WINDOW_SAMPLES:
        return np.pad(y, (0, WINDOW_SAMPLES - y.size))[None]
    starts = list(range(0, y.size - WINDOW_SAMPLES + 1, WINDOW_SAMPLES))
    if starts[-1] + WINDOW_SAMPLES < y.size:
        starts.append(y.size - WINDOW_SAMPLES)
    return np.stack([y[s:s + WINDOW_SAMPLES] for s in starts])


def _window_features(magnitude, mel_basis, feature_set="timbre"):
    """Features of one window from its STFT magnitude ``[frames, N_FFT // 2 + 1]``."""
    import librosa

    eps = 1e-10
    magnitude = np.maximum(magnitude, magnitude.max() * 10.0 ** (FLOOR_DB / 20.0))
    power = magnitude.T ** 2  # [bins, frames]
    mel = mel_basis @ power
    floor = 10.0 ** (audio.DB_FLOOR / 10.0)  # relative to the peak first, so gain does not matter
    log_mel = 10.0 * np.log10(np.maximum(mel / max(mel.max(), eps), floor))
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC)
    delta = librosa.feature.delta(mfcc)
    rms = np.sqrt(power.mean(axis=0)) + eps
    envelope = 20.0 * np.log10(rms / rms.max())
    sounding = envelope > SOUNDING_DB

    def stats(x):
        x = x[:, sounding] if sounding.any() else x
        return np.concatenate([x.mean(axis=1), x.std(axis=1)])

    flatness = librosa.feature.spectral_flatness(S=magnitude.T / max(magnitude.max(), eps) + eps)
    centroid = librosa.feature.spectral_centroid(S=magnitude.T, sr=audio.SAMPLE_RATE, n_fft=audio.N_FFT)
    points = np.linspace(0, envelope.size - 1, ENVELOPE_POINTS).astype(int)
    timbre = np.concatenate([
        stats(mfcc), stats(delta), stats(log_mel), envelope[points],
        [np.argmax(envelope) / envelope.size, sounding.mean()],
        stats(np.log(flatness + eps)), stats(np.log(centroid + 1.0)),
    ])
    if feature_set == "timbre":
        return timbre.astype(np.float32)
    return np.concatenate([timbre, _dynamics(magnitude, mel, envelope, sounding, stats)]).astype(np.float32)


def _dynamics(magnitude, mel, envelope, sounding, stats):
    """The "robust" set's additions: what EQ and a room change least.

    Each of `ENVELOPE_BANDS` groups of mel bands gets its own energy envelope
    in dB re its own peak (a fixed EQ moves none of them); spectral contrast
    (peaks against valleys in octave bands, Jiang et al. 2002) over the
    sounding frames; and the decay rate, dB/s, fitted from the peak over the
    first second and over the whole sounding part.
    """
    import librosa

    eps = 1e-10
    points = np.linspace(0, envelope.size - 1, BAND_ENVELOPE_POINTS).astype(int)
    bands = []
    for group in np.array_split(mel, ENVELOPE_BANDS, axis=0):
        energy = group.sum(axis=0) + eps
        bands.append(10.0 * np.log10(energy / energy.max())[points])
    contrast = librosa.feature.spectral_contrast(S=magnitude.T, sr=audio.SAMPLE_RATE, n_fft=audio.N_FFT,
                                                 n_bands=CONTRAST_BANDS, fmin=200.0)
    frame_seconds = audio.HOP_LENGTH / audio.SAMPLE_RATE
    peak = int(np.argmax(envelope))
    last = peak + int(np.flatnonzero(sounding[peak:]).max()) if sounding[peak:].any() else peak

    def slope(stop):
        t = np.arange(peak, max(stop, peak + 2)) * frame_seconds
        e = envelope[peak:peak + t.size]
        return float(np.polyfit(t[:e.size], e, 1)[0]) if e.size >= 2 else 0.0

    return np.concatenate([*bands, stats(contrast),
                           [slope(min(last, peak + int(1.0 / frame_seconds))), slope(last)],
                           stats(_harmonicity(magnitude))])


def _harmonicity(magnitude):
    """``[3, frames]``: cepstral peak prominence, partial count and partial density of each frame.

    The cepstral peak prominence (Hillenbrand et al. 1994) is the height of
    the real cepstrum's peak between `CEPSTRUM_F0_HZ` over its median there,
    high for evenly spaced harmonics.  Partials are the spectral peaks within
    `PEAK_DB` of the frame's loudest bin; their density is their count over
    the span they cover in multiples of the lowest one, near 1 for a full
    harmonic series (a piano, a reed), lower for a few spread partials (a
    struck bar) or a lone partial.
    """
    log_mag = np.log(magnitude + 1e-10)  # [frames, bins]
    cepstrum = np.fft.irfft(log_mag, axis=1)
    lo, hi = (int(audio.SAMPLE_RATE / f) for f in CEPSTRUM_F0_HZ[::-1])
    band = cepstrum[:, lo:min(hi, cepstrum.shape[1] // 2)]
    prominence = band.max(axis=1) - np.median(band, axis=1)
    db = 20.0 * log_mag / np.log(10.0)
    inner = db[:, 1:-1]
    peaks = (inner > db[:, :-2]) & (inner >= db[:, 2:]) & (inner > db.max(axis=1, keepdims=True) + PEAK_DB)
    count = peaks.sum(axis=1).astype(float)
    bins = np.arange(1, db.shape[1] - 1)[None]
    lowest = np.where(peaks, bins, np.inf).min(axis=1)
    highest = np.where(peaks, bins, 0).max(axis=1)
    span = np.where(count > 0, highest / np.where(np.isfinite(lowest), lowest, 1.0), 1.0)
    density = count / np.maximum(span, 1.0)
    return np.stack([prominence, np.log1p(count), density])


def check_feature_set(feature_set):
    """The number of features of a named set (`FEATURE_SETS`); ParameterError for an unknown name."""
    from soundtransform.errors import check_choice

    check_choice("judge feature set", feature_set, tuple(FEATURE_SETS))
    return FEATURE_SETS[feature_set]


def timbre_features(waveforms, batch_size=64, progress=False, desc="timbre features", feature_set="timbre"):
    """Timbre features of every window of every clip.

    Parameters
    ----------
    waveforms : list of np.ndarray [shape=(samples,)], float32 at 16 kHz, any length
    batch_size : int
        Windows per STFT call.
    feature_set : {"timbre", "robust"}
        `FEATURE_SETS`: the 238 timbre statistics, or those and the band
        envelopes, spectral contrast and decay rates (module docstring).

    Returns
    -------
    features : np.ndarray [shape=(windows, FEATURE_SETS[feature_set])], float32
    clip_index : np.ndarray [shape=(windows,)], int, the clip each window comes from
    """
    import librosa
    from tqdm import tqdm

    mel_basis = librosa.filters.mel(sr=audio.SAMPLE_RATE, n_fft=audio.N_FFT, n_mels=N_MELS)
    windows, clip_index = [], []
    for i, y in enumerate(waveforms):
        w = _windows(y)
        windows.append(w)
        clip_index.extend([i] * len(w))
    windows = np.concatenate(windows) if windows else np.zeros((0, WINDOW_SAMPLES), np.float32)
    out = np.zeros((len(windows), check_feature_set(feature_set)), np.float32)
    with tqdm(total=len(windows), desc=desc, unit="window", disable=not progress, leave=False) as bar:
        for start in range(0, len(windows), batch_size):
            magnitudes = np.abs(audio.stft(windows[start:start + batch_size]).numpy())
            for j, magnitude in enumerate(magnitudes):
                out[start + j] = _window_features(magnitude, mel_basis, feature_set)
            bar.update(len(magnitudes))
    return out, np.asarray(clip_index, int)


def note_segments(samples, notes, start=0, stop=None):
    """Sample spans ``(a, b)`` of the notes sounding in ``[start, stop)`` of a clip.

    Each note lasts from its onset to the next note's onset (its release
    included), or to the end of the clip; the spans are clipped to the
    window and those shorter than `SEGMENT_MIN_SAMPLES` are left out.

    Parameters
    ----------
    samples : int
        Length of the clip.
    notes : sequence of dict with ``onset`` (s), as `phrases.notes_beside` gives
    """
    stop = samples if stop is None else min(stop, samples)
    onsets = sorted(int(round(n["onset"] * audio.SAMPLE_RATE)) for n in notes)
    spans = []
    for a, b in zip(onsets, onsets[1:] + [samples]):
        a, b = max(a, start), min(b, stop)
        if b - a >= SEGMENT_MIN_SAMPLES:
            spans.append((a, b))
    return spans


def segment_features(pieces, progress=False, desc="note features", feature_set="timbre"):
    """`timbre_features` of clips each taken as one note: over their own frames, not in 4-s windows.

    A 4-s clip gives the same features as `timbre_features`; a shorter one
    is not padded, so its energy envelope spans the note itself.

    Returns
    -------
    np.ndarray [shape=(len(pieces), FEATURE_SETS[feature_set])], float32
    """
    import librosa
    from tqdm import tqdm

    mel_basis = librosa.filters.mel(sr=audio.SAMPLE_RATE, n_fft=audio.N_FFT, n_mels=N_MELS)
    out = np.zeros((len(pieces), check_feature_set(feature_set)), np.float32)
    for i, y in enumerate(tqdm(pieces, desc=desc, unit="note", disable=not progress, leave=False)):
        y = np.asarray(y, np.float32)
        if y.size < SEGMENT_MIN_SAMPLES:
            y = np.pad(y, (0, SEGMENT_MIN_SAMPLES - y.size))
        out[i] = _window_features(np.abs(audio.stft(y[None]).numpy()[0]), mel_basis, feature_set)
    return out


def _mean_per_clip(values, clip_index, clips):
    out = np.zeros((clips, values.shape[1]), np.float32)
    np.add.at(out, clip_index, values)
    return out / np.maximum(np.bincount(clip_index, minlength=clips), 1)[:, None]


@keras.saving.register_keras_serializable(package="soundtransform")
class TimbreJudge(keras.Model):
    """Multinomial logistic regression (or one small hidden layer) on `timbre_features` over `data.FAMILIES`.

    Parameters
    ----------
    l2 : float
        Weight of the L2 penalty on the ``Dense`` kernels (per weight,
        added to the mean cross-entropy).
    features : {"timbre", "robust"}
        The feature set (`FEATURE_SETS`) the judge hears.
    hidden : int
        Units of a ReLU layer between the standardised features and the
        logits; 0: none (logistic regression).
    """

    def __init__(self, l2=1e-3, n_features=None, families=tuple(data.FAMILIES), unit="window", features="timbre",
                 hidden=0, **kwargs):
        from soundtransform.errors import ParameterError, check_choice

        super().__init__(**kwargs)
        check_choice("judge unit", unit, UNITS)
        self.unit = unit
        self.features = features
        self.n_features = check_feature_set(features) if n_features is None else int(n_features)
        if self.n_features != FEATURE_SETS[features]:
            raise ParameterError(f"feature set {features!r} has {FEATURE_SETS[features]} features, "
                                 f"not n_features={self.n_features}")
        self.l2 = float(l2)
        self.hidden = int(hidden)
        self.families = tuple(families)
        self.standardize = keras.layers.Normalization(name="standardize")
        width = self.n_features
        # Built here, so that `fit_features` can adapt the standardiser of a built model.
        self.standardize.build((None, self.n_features))
        self.hidden_layer = None
        if self.hidden:
            self.hidden_layer = keras.layers.Dense(self.hidden, activation="relu", name="hidden",
                                                   kernel_regularizer=keras.regularizers.L2(self.l2))
            self.hidden_layer.build((None, width))
            width = self.hidden
        self.logits = keras.layers.Dense(len(self.families), name="logits",
                                         kernel_regularizer=keras.regularizers.L2(self.l2))
        self.logits.build((None, width))
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    def build(self, input_shape=None):
        self.built = True

    def call(self, features):
        """``[batch, n_features]`` features -> ``[batch, families]`` logits."""
        x = self.standardize(features)
        if self.hidden_layer is not None:
            x = self.hidden_layer(x)
        return self.logits(x)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def train_step(self, batch):
        import tensorflow as tf

        features, labels = batch
        with tf.GradientTape() as tape:
            # 1. class scores of the standardised features
            logits = self(features, training=True)
            # 2. cross-entropy plus the L2 penalty
            cross_entropy = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
            loss = cross_entropy + tf.add_n(self.losses)
        # 3. one optimiser step on the Dense weights (the standardiser is fixed)
        weights = self.logits.trainable_weights + (self.hidden_layer.trainable_weights if self.hidden else [])
        self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        # 4. progress
        self.loss_tracker.update_state(cross_entropy)
        self.accuracy_tracker.update_state(labels, logits)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, batch):
        import tensorflow as tf

        features, labels = batch
        logits = self(features, training=False)
        self.loss_tracker.update_state(tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)))
        self.accuracy_tracker.update_state(labels, logits)
        return {m.name: m.result() for m in self.metrics}

    def fit_features(self, features, labels, epochs=300, batch_size=512, learning_rate=0.01, seed=0,
                     verbose=0):
        """Standardise on ``features`` and train; labels are indices into ``families``."""
        keras.utils.set_random_seed(seed)
        self.standardize.adapt(np.asarray(features, np.float32))
        self.build()
        self.compile(optimizer=keras.optimizers.Adam(learning_rate))
        return self.fit(np.asarray(features, np.float32), np.asarray(labels, np.int32), epochs=epochs,
                        batch_size=batch_size, shuffle=True, verbose=verbose)

    def probabilities(self, features):
        """``[n, n_features]`` -> ``[n, families]`` softmax probabilities (numpy)."""
        if not len(features):
            return np.zeros((0, len(self.families)), np.float32)
        # One eager call: a Dense layer needs no traced function, and batches
        # of every size would each trace one.
        logits = np.asarray(self(np.asarray(features, np.float32)))
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def classify(self, waveforms, progress=False):
        """Family probabilities of clips of any length, averaged over their windows.

        Returns
        -------
        np.ndarray [shape=(len(waveforms), len(families))]
        """
        features, clip_index = timbre_features(waveforms, progress=progress, feature_set=self.features)
        return _mean_per_clip(self.probabilities(features), clip_index, len(waveforms))

    def classify_windows(self, y, notes, starts, size):
        """Probabilities ``[len(starts), families]`` of the windows ``y[s:s + size]`` of one phrase.

        With ``unit="note"`` and ``notes`` given, note by note (module
        docstring); otherwise each window as a clip (`classify`).
        """
        y = np.asarray(y, np.float32)
        pieces = [y[s:s + size] for s in starts]
        if self.unit != "note" or not notes:
            return self.classify(pieces)
        spans = [note_segments(y.size, notes, s, s + size) for s in starts]
        flat = [(w, a, b) for w, found in enumerate(spans) for a, b in found]
        probs = self.probabilities(segment_features([y[a:b] for _, a, b in flat], feature_set=self.features))
        out = np.zeros((len(starts), len(self.families)), np.float32)
        weight = np.zeros(len(starts), np.float32)
        for (w, a, b), p in zip(flat, probs):
            out[w] += (b - a) * p
            weight[w] += b - a
        whole = np.flatnonzero(weight == 0)
        if whole.size:
            out[whole] = self.classify([pieces[w] for w in whole])
            weight[whole] = 1.0
        return out / weight[:, None]

    def embed(self, waveforms, progress=False):
        """Standardised features of each clip (mean over its windows), for maps like t-SNE and `frechet`.

        Returns
        -------
        np.ndarray [shape=(len(waveforms), n_features)], in units of the
        training notes' standard deviation per feature
        """
        features, clip_index = timbre_features(waveforms, progress=progress, feature_set=self.features)
        standardized = np.asarray(self.standardize(features)) if len(features) else features
        return _mean_per_clip(standardized, clip_index, len(waveforms))

    def get_config(self):
        return {**super().get_config(), "l2": self.l2, "n_features": self.n_features,
                "families": list(self.families), "unit": self.unit, "features": self.features,
                "hidden": self.hidden}
