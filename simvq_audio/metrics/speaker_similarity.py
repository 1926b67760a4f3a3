"""Speaker similarity: cosine similarity of the Resemblyzer speaker embeddings (a d-vector
encoder, GE2E-trained) of the reference and of the hypothesis.

The encoder's weights are the ``pretrained.pt`` shipped inside the ``resemblyzer`` package, found
on disk without importing it and read with ``torch.load(..., weights_only=True)``: PyTorch's
restricted unpickler, which rebuilds only tensors and plain containers and executes no code
from the file. The network is rebuilt here: a 3-layer LSTM (256 units) over 40 mel channels,
whose last hidden state goes through a linear layer (256), a ReLU and an L2 normalisation.

Each signal goes through the package's documented preprocessing (``preprocess_wav``), so that
an embedding equals ``VoiceEncoder().embed_utterance(preprocess_wav(wav, source_sr=rate))``:

* resampling to 16 kHz (soxr HQ, as librosa's default);
* volume normalisation, raising (never lowering) the level to -30 dBFS RMS;
* trimming of long silences: webrtcvad (mode 3) decides speech/non-speech on 30 ms windows of
  the 16-bit signal (the samples after the last whole window are dropped), the decisions are
  smoothed by a strict majority over 8 windows (3 before, 4 after), the speech regions are
  widened by 3 windows on each side, and the other windows are removed.

The trimmed signal's 40-band mel power spectrogram (25 ms periodic Hann frames every 10 ms,
centred with zero padding, Slaney mel scale) is cut into partial utterances of 160 frames
(1.6 s) every 77 frames (1.3 partials a second); a last partial covering less than 75 % of its
span is dropped, unless it is the only one; the signal is zero-padded to the end of the last
partial. The utterance embedding is the L2-normalised mean of the partials' embeddings.

A signal of less than 1.2 s after trimming (75 % of one partial: what the encoder itself
discards as a last partial) is too short for the encoder: the utterance is skipped, as it is
when a signal is all zeros (the volume normalisation would divide by zero).

webrtcvad is used through its compiled module ``_webrtcvad``: its Python wrapper (like
resemblyzer's ``__init__``) imports ``pkg_resources``, which recent setuptools no longer ship.
The 16-bit conversion clips at full scale where the package's conversion would wrap around
(only a signal that peaks above 0 dBFS after the volume normalisation is concerned).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn

from simvq_audio.metrics.pairs import MetricSkipped
from simvq_audio.metrics.scorers import Column, ScoreInput, ScorerOptions, ScorerUnavailable

ENCODER_RATE = 16000
TARGET_DBFS = -30.0           # volume normalisation target (RMS), raise only
INT16_MAX = 2 ** 15 - 1

VAD_MODE = 3                  # webrtcvad aggressiveness (most aggressive)
VAD_WINDOW = 480              # samples (30 ms) per speech/non-speech decision
VAD_SMOOTHING = 8             # windows in the majority vote
VAD_WIDENING = 3              # windows added on each side of a speech region

MEL_N_FFT = 400               # 25 ms
MEL_HOP = 160                 # 10 ms
MEL_CHANNELS = 40

PARTIAL_FRAMES = 160          # 1.6 s
PARTIAL_STEP = int(np.round(ENCODER_RATE / 1.3 / MEL_HOP))   # 77 frames: 1.3 partials a second
MIN_COVERAGE = 0.75           # a last partial covering less of its span is dropped
MIN_SAMPLES = int(MIN_COVERAGE * PARTIAL_FRAMES * MEL_HOP)   # 19200: 1.2 s

HIDDEN_SIZE = 256
EMBEDDING_SIZE = 256
LSTM_LAYERS = 3

WEIGHTS = "pretrained.pt"
INSTALL = "pip install 'simvq-audio[eval]'"
INSTALL_WEIGHTS = ("pip install --no-deps resemblyzer==0.1.4 (only its weight file is used; "
                   "tools/venv.sh does this)")


def normalize_volume(wav: np.ndarray) -> np.ndarray:
    """``wav [T]`` scaled up to an RMS of -30 dBFS (unchanged if already louder). Raises
    :class:`MetricSkipped` for an all-zero signal."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
    if rms == 0:
        raise MetricSkipped("silent signal for speaker_similarity")
    change_db = TARGET_DBFS - 20 * np.log10(rms)
    return wav if change_db < 0 else wav * 10 ** (change_db / 20)


def speech_windows(wav: np.ndarray) -> np.ndarray:
    """webrtcvad decisions of ``wav [T]`` (16 kHz): bool ``[T // 480]``, one per 30 ms."""
    # optional (the eval extra): imported when the scorer loads
    import _webrtcvad

    count = len(wav) // VAD_WINDOW
    if count == 0:
        return np.zeros(0, dtype=bool)
    pcm = np.clip(np.round(wav[:count * VAD_WINDOW] * INT16_MAX), -INT16_MAX - 1, INT16_MAX)
    pcm = pcm.astype(np.int16)
    vad = _webrtcvad.create()
    _webrtcvad.init(vad)
    _webrtcvad.set_mode(vad, VAD_MODE)
    return np.array([bool(_webrtcvad.process(vad, ENCODER_RATE, window.tobytes(), VAD_WINDOW))
                     for window in pcm.reshape(count, VAD_WINDOW)], dtype=bool)


def trim_long_silences(wav: np.ndarray) -> np.ndarray:
    """``wav [T]`` (16 kHz) without its long non-speech stretches: ``[T']``, ``T'`` a multiple
    of 480, at most ``T``."""
    flags = speech_windows(wav).astype(np.int64)
    if len(flags) == 0:
        return wav[:0]
    padded = np.pad(flags, ((VAD_SMOOTHING - 1) // 2, VAD_SMOOTHING // 2))
    votes = np.convolve(padded, np.ones(VAD_SMOOTHING, dtype=np.int64), mode="valid")
    speech = (votes * 2 > VAD_SMOOTHING).astype(np.int64)
    kept = np.convolve(np.pad(speech, VAD_WIDENING), np.ones(2 * VAD_WIDENING + 1, np.int64),
                       mode="valid") > 0
    return wav[:len(flags) * VAD_WINDOW][np.repeat(kept, VAD_WINDOW)]


def preprocess(wav: np.ndarray) -> np.ndarray:
    """Resemblyzer's ``preprocess_wav`` of ``wav [T]`` already at 16 kHz: volume normalised,
    long silences trimmed, ``[T']``."""
    return trim_long_silences(normalize_volume(wav))


def partial_starts(length: int) -> list[int]:
    """First mel frames of the partial utterances of a preprocessed signal of ``length``
    samples."""
    frames = int(np.ceil((length + 1) / MEL_HOP))
    starts = list(range(0, max(1, frames - PARTIAL_FRAMES + PARTIAL_STEP + 1), PARTIAL_STEP))
    coverage = (length - starts[-1] * MEL_HOP) / (PARTIAL_FRAMES * MEL_HOP)
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts.pop()
    return starts


class MelFrames:
    """The encoder's input: mel power spectrogram frames."""

    def __init__(self):
        # optional (the eval extra): imported when the scorer loads
        import librosa

        self.window = np.hanning(MEL_N_FFT + 1)[:-1]     # periodic Hann of MEL_N_FFT points
        self.mel_basis = librosa.filters.mel(sr=ENCODER_RATE, n_fft=MEL_N_FFT,
                                             n_mels=MEL_CHANNELS, dtype=np.float64)  # [40, 201]

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        """``wav [T]`` -> ``[1 + T // 160, 40]`` float32."""
        padded = np.pad(np.asarray(wav, dtype=np.float64), MEL_N_FFT // 2)
        frames = np.lib.stride_tricks.sliding_window_view(padded, MEL_N_FFT)[::MEL_HOP]
        power = np.abs(np.fft.rfft(frames * self.window, axis=-1)) ** 2
        return (power @ self.mel_basis.T).astype(np.float32)

    def partials(self, wav: np.ndarray) -> np.ndarray:
        """The partial utterances of a preprocessed ``wav [T]``: ``[P, 160, 40]`` float32."""
        starts = partial_starts(len(wav))
        end = starts[-1] * MEL_HOP + PARTIAL_FRAMES * MEL_HOP
        if end >= len(wav):
            wav = np.pad(wav, (0, end - len(wav)))
        mel = self(wav)
        return np.stack([mel[start:start + PARTIAL_FRAMES] for start in starts])


class SpeakerEncoder(nn.Module):
    """Resemblyzer's voice encoder: mel frames ``[B, F, 40]`` -> unit embeddings ``[B, 256]``
    (non-negative)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(MEL_CHANNELS, HIDDEN_SIZE, LSTM_LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN_SIZE, EMBEDDING_SIZE)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        embeddings = torch.relu(self.linear(hidden[-1]))
        return embeddings / torch.linalg.vector_norm(embeddings, dim=1, keepdim=True)


def load_encoder(path: Path) -> SpeakerEncoder:
    """The encoder with the weights of ``path`` (Resemblyzer's checkpoint: its ``model_state``;
    the GE2E similarity scale and bias it also holds are not part of the embedding)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    encoder = SpeakerEncoder()
    state = {name: value for name, value in checkpoint["model_state"].items()
             if name.startswith(("lstm.", "linear."))}
    encoder.load_state_dict(state)
    return encoder.eval()


class SpeakerEmbedder:
    """Utterance embeddings from 16 kHz signals."""

    def __init__(self, encoder: SpeakerEncoder):
        self.encoder = encoder
        self.mel = MelFrames()

    def partials(self, wav: np.ndarray, what: str = "signal") -> np.ndarray:
        """Preprocessed partial utterances ``[P, 160, 40]`` of ``wav [T]`` (16 kHz). Raises
        :class:`MetricSkipped` (naming ``what``) when it is too short for the encoder."""
        speech = preprocess(np.asarray(wav))
        if len(speech) < MIN_SAMPLES:
            raise MetricSkipped(f"{what} too short for speaker_similarity: "
                                f"{len(speech) / ENCODER_RATE:.2f} s after silence trimming "
                                f"< {MIN_SAMPLES / ENCODER_RATE} s")
        return self.mel.partials(speech)

    def embed(self, wavs: list[np.ndarray], names: list[str] | None = None) -> np.ndarray:
        """Unit embeddings ``[N, 256]`` (float64) of the ``N`` signals ``wavs`` (``[T]`` each,
        16 kHz), all their partials in one forward pass; ``names`` are for the skip reasons."""
        names = names or [f"signal {index}" for index in range(len(wavs))]
        partials = [self.partials(wav, name) for wav, name in zip(wavs, names)]
        with torch.no_grad():
            embeddings = self.encoder(torch.from_numpy(np.concatenate(partials))).numpy()
        bounds = np.cumsum([0] + [len(part) for part in partials])
        means = np.stack([embeddings[start:end].astype(np.float64).mean(axis=0)
                          for start, end in zip(bounds[:-1], bounds[1:])])
        return means / np.linalg.norm(means, axis=1, keepdims=True)


class SpeakerSimilarityScorer:
    """Cosine similarity of the reference's and the hypothesis' embeddings."""

    name = "speaker_similarity"
    columns = (Column("spk_sim", "Speaker sim. (Resemblyzer)", higher_is_better=True),)
    details: tuple[str, ...] = ()

    def __init__(self, embedder: SpeakerEmbedder, version: str):
        self.embedder = embedder
        self.description = ("Speaker similarity: cosine of Resemblyzer d-vectors "
                            f"(resemblyzer {version} pretrained.pt)")

    def score(self, item: ScoreInput) -> dict[str, float]:
        """``{"spk_sim": cosine}``, in [0, 1] (the embeddings are non-negative)."""
        ref, hyp = self.embedder.embed(list(item.at(ENCODER_RATE)), ["reference", "hypothesis"])
        similarity = float(ref @ hyp)
        if not np.isfinite(similarity):
            raise MetricSkipped("speaker_similarity: zero embedding (no ReLU unit active)")
        return {"spk_sim": similarity}


def weights_path() -> Path:
    """``pretrained.pt`` inside the installed ``resemblyzer`` package (found without importing
    it). Raises :class:`ScorerUnavailable` when missing."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or spec.origin is None:
        raise ScorerUnavailable(f"resemblyzer is not installed (its encoder weights); "
                                f"{INSTALL_WEIGHTS}")
    path = Path(spec.origin).parent / WEIGHTS
    if not path.is_file():
        raise ScorerUnavailable(f"{path}: encoder weights missing from the resemblyzer package; "
                                f"reinstall it: {INSTALL_WEIGHTS}")
    return path


def load(options: ScorerOptions) -> SpeakerSimilarityScorer:
    """The speaker similarity scorer; :class:`ScorerUnavailable` without resemblyzer's weights,
    webrtcvad or librosa."""
    path = weights_path()
    for module, package in (("_webrtcvad", "webrtcvad"), ("librosa", "librosa")):
        if importlib.util.find_spec(module) is None:
            raise ScorerUnavailable(f"{package} is not installed (needed by speaker similarity); "
                                    f"{INSTALL}")
    return SpeakerSimilarityScorer(SpeakerEmbedder(load_encoder(path)),
                                   importlib.metadata.version("resemblyzer"))
