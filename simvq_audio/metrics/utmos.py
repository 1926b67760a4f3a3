"""UTMOS: the naturalness MOS predicted by the UTMOS22 strong learner (Saeki et al., 2022), the
SimVQ paper's headline metric, for the hypothesis (``utmos``) and the reference (``ref_utmos``).

The model, in plain PyTorch (no fairseq): the wav2vec 2.0 BASE encoder
(:mod:`simvq_audio.metrics.wav2vec2`) turns the 16 kHz waveform (samples as they are, no
normalisation) into 768-dim frames at 50 Hz; each frame is concatenated with two fixed 128-dim
embeddings, the data domain's and the listener's (the rows the original's inference selects,
domain 0 and judge 288: the main-track domain and, presumably, its mean listener; the port stores
them as ``[1, 128]`` parameters); a bidirectional LSTM (512 per direction) and a projection
(1024 -> 2048, ReLU, -> 1) give a score per frame, and the utterance's MOS is
``2 * mean over frames + 3``. The phoneme encoder of the paper's system is not part of this
learner. Waveforms are resampled to 16 kHz with soxr (the original demo interpolates linearly,
SpeechMOS uses torchaudio's sinc resampler): a small difference in the scores of non-16 kHz
audio.

The weights are those of the pure-PyTorch port ``tarepan/SpeechMOS`` (torch.hub entry
``utmos22_strong``): its release file ``utmos22_strong_step7459_v1.pt``, a plain state dict, which
torch.hub caches as ``$TORCH_HOME/hub/checkpoints/utmos22_strong_step7459_v1.pt`` (default
``~/.cache/torch/hub/checkpoints/``); ``ScorerOptions.utmos_checkpoint`` names another path. It is
read with ``torch.load(..., weights_only=True)``, PyTorch's restricted unpickler, which accepts
tensors and plain containers only and runs no code from the file. It is downloaded only when the
options allow it.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from simvq_audio.metrics.pairs import MetricSkipped
from simvq_audio.metrics.reference_cache import weights_stamp
from simvq_audio.metrics.scorers import Column, ScoreInput, ScorerOptions, ScorerUnavailable
from simvq_audio.metrics.wav2vec2 import EMBED_DIM, Wav2Vec2Encoder, receptive_field

CHECKPOINT_NAME = "utmos22_strong_step7459_v1.pt"
CHECKPOINT_URL = ("https://github.com/tarepan/SpeechMOS/releases/download/v1.0.0/"
                  + CHECKPOINT_NAME)
SAMPLE_RATE = 16000
DOMAIN_DIM = 128
JUDGE_DIM = 128
LSTM_HIDDEN = 512           # per direction
PROJECTION_HIDDEN = 2048
MOS_SCALE, MOS_OFFSET = 2.0, 3.0     # MOS = 2 * (mean frame score) + 3
MIN_SAMPLES = receptive_field()      # 400 samples (25 ms) at 16 kHz: one frame
MAX_KEYS_SHOWN = 8                   # keys named in a mismatch message


class UTMOS22Strong(nn.Module):
    """UTMOS22 strong learner without its phoneme encoder: 16 kHz waveforms ``[B, T]`` -> MOS
    ``[B]``. Parameter names and shapes are those of ``tarepan/SpeechMOS``'s ``UTMOS22Strong``
    (225 tensors)."""

    def __init__(self):
        super().__init__()
        self.wav2vec2 = Wav2Vec2Encoder()
        self.domain_emb = nn.Parameter(torch.zeros(1, DOMAIN_DIM), requires_grad=False)
        self.judge_emb = nn.Parameter(torch.zeros(1, JUDGE_DIM), requires_grad=False)
        self.blstm = nn.LSTM(EMBED_DIM + DOMAIN_DIM + JUDGE_DIM, LSTM_HIDDEN, batch_first=True,
                             bidirectional=True)
        self.projection = nn.Sequential(nn.Linear(2 * LSTM_HIDDEN, PROJECTION_HIDDEN), nn.ReLU(),
                                        nn.Linear(PROJECTION_HIDDEN, 1))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``wave [B, T]`` at 16 kHz (T >= 400) -> predicted MOS ``[B]``."""
        frames = self.wav2vec2(wave)                                    # [B, F, 768]
        batch, count, _ = frames.shape
        conditions = torch.cat([self.domain_emb, self.judge_emb], dim=1)   # [1, 256]
        features = torch.cat([frames, conditions[:, None].expand(batch, count, -1)], dim=2)
        frame_scores = self.projection(self.blstm(features)[0])        # [B, F, 1]
        return frame_scores.mean(dim=(1, 2)) * MOS_SCALE + MOS_OFFSET


def default_checkpoint() -> Path:
    """Where torch.hub caches the SpeechMOS file: ``<torch.hub.get_dir()>/checkpoints/...``
    (``$TORCH_HOME/hub``, default ``~/.cache/torch/hub``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / CHECKPOINT_NAME


def _remedy(target: Path) -> str:
    return (f"download {CHECKPOINT_URL} (tarepan/SpeechMOS's UTMOS22 strong weights, a plain "
            f"PyTorch state dict) to {target}, or give its path with --utmos-checkpoint, or let "
            "score download it (--allow-download)")


def find_checkpoint(options: ScorerOptions) -> Path:
    """The checkpoint file to load: ``options.utmos_checkpoint``, else the torch hub cache's,
    downloaded there first if it is missing and ``options.allow_download`` is set.

    Raises:
        ScorerUnavailable: the file is not there (the message names the path and the remedy).
    """
    if options.utmos_checkpoint is not None:
        path = Path(options.utmos_checkpoint).expanduser()
        if not path.is_file():
            raise ScorerUnavailable(f"UTMOS checkpoint {path} (--utmos-checkpoint): no such file; "
                                    + _remedy(path))
        return path
    path = default_checkpoint()
    if path.is_file():
        return path
    if not options.allow_download:
        raise ScorerUnavailable(f"UTMOS weights not found at {path}; " + _remedy(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(CHECKPOINT_URL, str(path), progress=True)
    except OSError as error:    # URLError and HTTPError are OSErrors
        raise ScorerUnavailable(f"UTMOS weights: downloading {CHECKPOINT_URL} to {path} failed "
                                f"({error})") from None
    return path


def _describe_keys(keys: set[str]) -> str:
    shown = sorted(keys)[:MAX_KEYS_SHOWN]
    more = len(keys) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def load_model(path: str | Path) -> UTMOS22Strong:
    """The UTMOS22 strong learner with the state dict in ``path`` (float32, CPU, eval mode).

    The file is read with ``torch.load(map_location="cpu", weights_only=True)``: tensors and
    plain containers only, no code runs. The module is built on the meta device and takes the
    file's tensors as its parameters (no random initialisation, no copy).

    Raises:
        ScorerUnavailable: the file is not a state dict of this model: unreadable, refused by the
            restricted unpickler, or with missing, unexpected or misshapen keys (named).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ScorerUnavailable(
            f"UTMOS checkpoint {path}: refused by torch.load(weights_only=True), it holds more "
            f"than tensors ({str(error).splitlines()[0]}); use tarepan/SpeechMOS's "
            f"{CHECKPOINT_NAME} (a plain state dict), not the original UTMOS22 Lightning "
            "checkpoint") from None
    except Exception as error:     # a damaged or foreign file fails anywhere in the unpickler
        raise ScorerUnavailable(f"UTMOS checkpoint {path}: not a readable PyTorch file "
                                f"({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor)
                                              for value in state.values()):
        raise ScorerUnavailable(f"UTMOS checkpoint {path}: not a state dict (a mapping of "
                                f"parameter names to tensors); expected {CHECKPOINT_NAME}")
    with torch.device("meta"):
        model = UTMOS22Strong()
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    missing, unexpected = expected.keys() - state.keys(), state.keys() - expected.keys()
    misshapen = {name for name in expected.keys() & state.keys()
                 if tuple(state[name].shape) != expected[name]}
    if missing or unexpected or misshapen:
        problems = [f"missing keys: {_describe_keys(missing)}" if missing else "",
                    f"unexpected keys: {_describe_keys(unexpected)}" if unexpected else "",
                    "wrong shapes: " + ", ".join(
                        f"{name} {tuple(state[name].shape)} (expected {expected[name]})"
                        for name in sorted(misshapen)[:MAX_KEYS_SHOWN]) if misshapen else ""]
        raise ScorerUnavailable(f"UTMOS checkpoint {path} does not match the UTMOS22 strong "
                                f"learner of tarepan/SpeechMOS ({CHECKPOINT_NAME}): "
                                + "; ".join(problem for problem in problems if problem))
    model.load_state_dict(state, strict=True, assign=True)
    return model.float().eval()


class UtmosScorer:
    """The ``utmos`` scorer: predicted MOS of the hypothesis and of the reference."""

    name = "utmos"
    columns = (Column("utmos", "UTMOS", higher_is_better=True),
               Column("ref_utmos", "UTMOS (ref)", higher_is_better=True))
    details: tuple[str, ...] = ()

    def __init__(self, model: UTMOS22Strong, checkpoint: Path):
        self.model = model
        self.description = (f"UTMOS22 strong learner, weights of tarepan/SpeechMOS "
                            f"({weights_stamp(checkpoint)}), plain-PyTorch wav2vec 2.0, 16 kHz")

    def predict(self, waves: np.ndarray) -> np.ndarray:
        """MOS ``[B]`` (float64) of 16 kHz waveforms ``waves [B, T]`` (T >= 400)."""
        with torch.inference_mode():
            return self.model(torch.from_numpy(waves).float()).double().numpy()

    def score(self, item: ScoreInput) -> dict[str, float]:
        """``{"utmos": MOS of item.hyp, "ref_utmos": MOS of item.ref}``, both at 16 kHz (the
        reference's from the item's reference cache when it holds it)."""
        ref, hyp = item.at(SAMPLE_RATE)
        if len(hyp) < MIN_SAMPLES:
            raise MetricSkipped(f"too short for UTMOS ({len(hyp)} samples at 16 kHz < "
                                f"{MIN_SAMPLES})")
        ref_mos = item.of_reference(self.description, SAMPLE_RATE,
                                    lambda: float(self.predict(ref[None])[0]))
        return {"utmos": float(self.predict(hyp[None])[0]), "ref_utmos": ref_mos}


def load(options: ScorerOptions) -> UtmosScorer:
    """The ``utmos`` scorer with the weights :func:`find_checkpoint` finds.

    Raises:
        ScorerUnavailable: no checkpoint, or not the SpeechMOS state dict (see :func:`load_model`).
    """
    path = find_checkpoint(options)
    return UtmosScorer(load_model(path), path)
