"""DNSMOS: Microsoft's non-intrusive speech quality predictors, P.835 (SIG: speech signal, BAK:
background, OVRL: overall) and P.808 (a single MOS), on the hypothesis and on the reference.

The ONNX models are the ones shipped inside the ``speechmos`` package
(``speechmos/dnsmos_models/sig_bak_ovr.onnx`` and ``model_v8.onnx``); they are found on disk
without importing ``speechmos`` and run here with onnxruntime on one thread (``score`` runs one
worker process per core). The procedure reproduces ``speechmos.dnsmos.run(wav, 16000)`` (itself
Microsoft's ``dnsmos_local.py``):

* the audio is taken at 16 kHz; audio shorter than a 9.01 s window is doubled (the whole signal
  appended to itself) until it is at least that long;
* windows of 9.01 s (144160 samples) start every second; their number is
  ``int(floor(T / 16000) - 9.01) + 1`` and a window is dropped when its end, computed in floating
  point as ``int((i + 9.01) * 16000)``, falls one sample short (windows 7-23 and 119-122: an
  artefact of the reference implementation that every published DNSMOS number carries);
* P.835 scores each window's raw samples; its three raw outputs are mapped through the
  quadratic fits of the non-personalised model (:data:`SIG_FIT`, :data:`BAK_FIT`,
  :data:`OVRL_FIT`);
* P.808 scores each window's first 9 s (the last 160 samples dropped) as a 120-band mel power
  spectrogram (321-point periodic Hann frames, hop 160, centred with zero padding, Slaney mel
  scale), in dB relative to the window's maximum, floored 80 dB below, mapped by
  ``(dB + 40) / 40``; its output is used as is;
* every value is the mean over the windows.

The models accept a batch dimension, but on CPU a batch is not faster per window (P.835:
0.36 s per window at any batch size, P.808 slower in batches) and its memory grows ~100 MB per
P.835 window, so the windows go through one at a time.

Unlike ``speechmos``, which refuses arrays outside [-1, 1], a signal that overshoots is scored as
it is (the models take any float input): a codec whose decoded audio peaks slightly above full
scale is measured on what it produced, not clipped and not skipped.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np

from simvq_audio.metrics.pairs import MetricSkipped
from simvq_audio.metrics.scorers import Column, ScoreInput, ScorerOptions, ScorerUnavailable

DNSMOS_RATE = 16000
WINDOW_SECONDS = 9.01
WINDOW_SAMPLES = int(WINDOW_SECONDS * DNSMOS_RATE)     # 144160
HOP_SAMPLES = DNSMOS_RATE                              # windows start every second

# P.808 input: a mel spectrogram of the window without its last P808_TRIM samples
P808_TRIM = 160
P808_N_FFT = 321
P808_HOP = 160
P808_MELS = 120
P808_TOP_DB = 80.0         # dB below the window's maximum where the spectrogram is floored
P808_AMIN = 1e-10          # power floor before the logarithm
P808_DB_OFFSET = 40.0      # features are (dB + offset) / scale
P808_DB_SCALE = 40.0

# quadratic fits (highest power first) from the raw P.835 outputs to MOS, non-personalised model
SIG_FIT = (-0.08397278, 1.22083953, 0.0052439)
BAK_FIT = (-0.13166888, 1.60915514, -0.39604546)
OVRL_FIT = (-0.06766283, 1.11546468, 0.04602535)

P835_MODEL = "dnsmos_models/sig_bak_ovr.onnx"
P808_MODEL = "dnsmos_models/model_v8.onnx"
INSTALL = "pip install 'simvq-audio[eval]'"

QUANTITIES = ("sig", "bak", "ovrl", "p808")
LABELS = {"sig": "SIG", "bak": "BAK", "ovrl": "OVRL", "p808": "P.808"}


def model_paths() -> tuple[Path, Path]:
    """``(P.835 model, P.808 model)`` inside the installed ``speechmos`` package (found without
    importing it). Raises :class:`ScorerUnavailable` when the package or a model is missing."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or spec.origin is None:
        raise ScorerUnavailable(f"speechmos is not installed (its ONNX models); {INSTALL}")
    package = Path(spec.origin).parent
    paths = (package / P835_MODEL, package / P808_MODEL)
    for path in paths:
        if not path.is_file():
            raise ScorerUnavailable(f"{path}: DNSMOS model missing from the speechmos package; "
                                    f"reinstall it: {INSTALL}")
    return paths


def repeat_to_window(wav: np.ndarray) -> np.ndarray:
    """``wav [T]`` doubled (appended to itself) until it has at least one window's samples:
    ``[T * 2**k]``, or ``wav`` itself when already long enough."""
    if len(wav) == 0:  # the scorer skips empty signals (MetricSkipped) before: a caller's bug
        raise ValueError("empty signal")
    copies = 1
    while len(wav) * copies < WINDOW_SAMPLES:
        copies *= 2
    return np.tile(wav, copies)


def window_starts(length: int) -> list[int]:
    """First samples of the windows scored in a (repeated) signal of ``length`` samples, with
    the reference implementation's count and its dropped windows (module docstring)."""
    count = int(np.floor(length / DNSMOS_RATE) - WINDOW_SECONDS) + 1
    starts = []
    for index in range(count):
        start = int(index * HOP_SAMPLES)
        end = min(int((index + WINDOW_SECONDS) * HOP_SAMPLES), length)
        if end - start >= WINDOW_SAMPLES:
            starts.append(start)
    return starts


class P808Features:
    """The P.808 model's input: a dB-scaled mel spectrogram of one window."""

    def __init__(self):
        # optional (the eval extra): imported when the scorer loads
        import librosa

        self.window = np.hanning(P808_N_FFT + 1)[:-1]   # periodic Hann of P808_N_FFT points
        self.mel_basis = librosa.filters.mel(sr=DNSMOS_RATE, n_fft=P808_N_FFT, n_mels=P808_MELS,
                                             dtype=np.float64)           # [120, 161]

    def __call__(self, window: np.ndarray) -> np.ndarray:
        """``window [144160]`` -> features ``[1, 900, 120]`` float32, values in [-1, 1]."""
        audio = np.asarray(window[:-P808_TRIM], dtype=np.float64)
        padded = np.pad(audio, P808_N_FFT // 2)
        frames = np.lib.stride_tricks.sliding_window_view(padded, P808_N_FFT)[::P808_HOP]
        power = np.abs(np.fft.rfft(frames * self.window, axis=-1)) ** 2        # [900, 161]
        mel = power @ self.mel_basis.T                                          # [900, 120]
        decibels = 10 * np.log10(np.maximum(mel, P808_AMIN))
        decibels -= 10 * np.log10(max(float(mel.max()), P808_AMIN))
        decibels = np.maximum(decibels, decibels.max() - P808_TOP_DB)
        return ((decibels + P808_DB_OFFSET) / P808_DB_SCALE).astype(np.float32)[None]


class DNSMOS:
    """The two DNSMOS models in onnxruntime sessions on one thread each."""

    def __init__(self, p835_path: Path, p808_path: Path):
        # optional (the eval extra): imported when the scorer loads
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self.p835 = onnxruntime.InferenceSession(str(p835_path), options, providers=providers)
        self.p808 = onnxruntime.InferenceSession(str(p808_path), options, providers=providers)
        self.p835_input = self.p835.get_inputs()[0].name
        self.p808_input = self.p808.get_inputs()[0].name
        self.features = P808Features()

    def window_scores(self, wav: np.ndarray) -> np.ndarray:
        """Per-window ``[W, 4]`` (SIG, BAK, OVRL after the fits; P.808) of ``wav [T]`` at
        16 kHz."""
        audio = repeat_to_window(np.asarray(wav))
        rows = []
        for start in window_starts(len(audio)):
            window = audio[start:start + WINDOW_SAMPLES]
            raw = self.p835.run(None, {self.p835_input: window.astype(np.float32)[None]})[0][0]
            p808 = self.p808.run(None, {self.p808_input: self.features(window)})[0][0, 0]
            rows.append([np.polyval(SIG_FIT, float(raw[0])), np.polyval(BAK_FIT, float(raw[1])),
                         np.polyval(OVRL_FIT, float(raw[2])), float(p808)])
        return np.array(rows)

    def scores(self, wav: np.ndarray) -> dict[str, float]:
        """``{"sig", "bak", "ovrl", "p808"}`` of ``wav [T]`` at 16 kHz: means over the
        windows."""
        means = self.window_scores(wav).mean(axis=0)
        return {name: float(value) for name, value in zip(QUANTITIES, means)}


class DNSMOSScorer:
    """DNSMOS of the hypothesis (``dnsmos_*``) and of the reference (``ref_dnsmos_*``)."""

    name = "dnsmos"
    details: tuple[str, ...] = ()
    columns = tuple(Column(f"{prefix}dnsmos_{quantity}", f"DNSMOS {LABELS[quantity]}{suffix}",
                           higher_is_better=True)
                    for prefix, suffix in (("", ""), ("ref_", " (ref)"))
                    for quantity in QUANTITIES)

    def __init__(self, model: DNSMOS, version: str):
        self.model = model
        self.description = f"DNSMOS P.835 + P.808, ONNX models of speechmos {version}"

    def score(self, item: ScoreInput) -> dict[str, float]:
        """The eight columns of one utterance (both signals resampled to 16 kHz)."""
        ref, hyp = item.at(DNSMOS_RATE)
        if len(hyp) == 0:
            raise MetricSkipped("empty signal for dnsmos")
        values = {f"dnsmos_{name}": value for name, value in self.model.scores(hyp).items()}
        of_ref = item.of_reference(self.description, DNSMOS_RATE, lambda: self.model.scores(ref))
        values.update({f"ref_dnsmos_{name}": value for name, value in of_ref.items()})
        return values


def load(options: ScorerOptions) -> DNSMOSScorer:
    """The DNSMOS scorer; :class:`ScorerUnavailable` without speechmos' models, onnxruntime or
    librosa."""
    p835_path, p808_path = model_paths()
    for module in ("onnxruntime", "librosa"):
        if importlib.util.find_spec(module) is None:
            raise ScorerUnavailable(f"{module} is not installed (needed by DNSMOS); {INSTALL}")
    return DNSMOSScorer(DNSMOS(p835_path, p808_path), importlib.metadata.version("speechmos"))
