"""Speaker similarity with a WavLM speaker-verification model: the cosine similarity of the
x-vectors of the reference and the hypothesis (1: same voice as far as the model can tell).

The model is ``transformers``' ``WavLMForXVector`` (WavLM, then a TDNN x-vector head: frame-level
TDNN layers, mean and standard deviation pooled over time, a linear embedding layer) with its
feature extractor, ``microsoft/wavlm-base-plus-sv`` by default (x-vectors of 512 values; its
model card proposes 0.86 as a same-speaker threshold). Both utterances are resampled to the
feature extractor's rate (16 kHz), prepared by the feature extractor and embedded in one
unpadded batch; the cosine is computed in float64 from the float32 embeddings.

Nothing is downloaded unless ``ScorerOptions.allow_download`` is set and the Hugging Face hub is
not in offline mode (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``): by default the model must be in
the Hugging Face cache or in a local directory (``ScorerOptions.wavlm_model``). Weights in
``.safetensors`` load without pickle; transformers reads a ``pytorch_model.bin`` with
``torch.load(weights_only=True)`` (so do all the versions the ``paper-eval`` extra allows).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from simvq_audio.metrics.pairs import MetricSkipped
from simvq_audio.metrics.scorers import Column, ScoreInput, ScorerOptions, ScorerUnavailable

DEFAULT_MODEL = "microsoft/wavlm-base-plus-sv"
INSTALL_HINT = "pip install 'simvq-audio[paper-eval]'"
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
TRUE_VALUES = {"1", "on", "yes", "true"}          # huggingface_hub's reading of those variables
PATH_PREFIXES = ("/", ".", "~")   # a --wavlm-model that is meant as a directory, not a hub id
MIN_POOLED_FRAMES = 2       # the x-vector's standard deviation needs two TDNN output frames
# checkpoint entries the embedding does not use: the training loss' weight, the speaker
# classifier after the embedding, the pre-training mask vector
UNUSED_PREFIXES = ("objective.", "classifier.", "wavlm.masked_spec_embed")


def hub_offline() -> bool:
    """Whether the environment puts the Hugging Face hub in offline mode (read now, not at
    import)."""
    # optional (the paper-eval extra): imported when the scorer loads
    import huggingface_hub.constants

    return (huggingface_hub.constants.HF_HUB_OFFLINE
            or any(os.environ.get(name, "").strip().lower() in TRUE_VALUES
                   for name in OFFLINE_VARIABLES))


def min_samples(config) -> int:
    """Fewest input samples for which ``WavLMForXVector`` (``config``: its ``WavLMConfig``) pools
    :data:`MIN_POOLED_FRAMES` TDNN frames: the conv encoder's and the TDNN's spans inverted."""
    frames = MIN_POOLED_FRAMES
    for kernel, dilation in zip(reversed(config.tdnn_kernel), reversed(config.tdnn_dilation)):
        frames += (kernel - 1) * dilation
    samples = frames
    for kernel, stride in zip(reversed(config.conv_kernel), reversed(config.conv_stride)):
        samples = (samples - 1) * stride + kernel
    return samples


def _remedy(model_id: str) -> str:
    return (f"get it on a machine with network access with `hf download {model_id}` (it fills "
            "the Hugging Face cache, ~/.cache/huggingface/hub or $HF_HOME/hub; copy that cache "
            "here), or put its config.json, preprocessor_config.json and model.safetensors (or "
            "pytorch_model.bin) in a directory and give that directory as the WavLM model "
            "(--wavlm-model DIR), or let score download it (--allow-download)")


class WavLMSpeakerScorer:
    """The ``wavlm_speaker`` scorer: cosine similarity of the WavLM x-vectors of ``ref`` and
    ``hyp``."""

    name = "wavlm_speaker"
    columns = (Column("spk_sim_wavlm", "Speaker sim. (WavLM)", higher_is_better=True),)
    details: tuple[str, ...] = ()

    def __init__(self, model, feature_extractor, model_id: str):
        """``model``: a loaded ``WavLMForXVector`` (eval mode); ``feature_extractor``: its
        ``Wav2Vec2FeatureExtractor``; ``model_id``: where they came from (for the summary)."""
        self.model, self.feature_extractor = model, feature_extractor
        self.sample_rate = int(feature_extractor.sampling_rate)
        self.min_samples = min_samples(model.config)
        self.description = (f"WavLM x-vector cosine similarity, {model_id} via transformers "
                            f"WavLMForXVector, {self.sample_rate} Hz")

    def embed(self, waves: list[np.ndarray]):
        """x-vectors ``[B, D]`` (float32 tensor) of same-length waveforms (``B`` arrays ``[T]``
        at :attr:`sample_rate`)."""
        inputs = self.feature_extractor([wave.astype(np.float32) for wave in waves],
                                        sampling_rate=self.sample_rate, return_tensors="pt")
        with torch.inference_mode():
            return self.model(input_values=inputs["input_values"]).embeddings

    def score(self, item: ScoreInput) -> dict[str, float]:
        """``{"spk_sim_wavlm": cos(x-vector(ref), x-vector(hyp))}`` in [-1, 1]."""
        ref, hyp = item.at(self.sample_rate)
        if len(hyp) < self.min_samples:
            raise MetricSkipped(f"too short for the WavLM x-vector ({len(hyp)} samples at "
                                f"{self.sample_rate} Hz < {self.min_samples})")
        ref_vector, hyp_vector = self.embed([ref, hyp]).double().numpy()
        norms = float(np.linalg.norm(ref_vector) * np.linalg.norm(hyp_vector))
        if not norms > 0:
            raise MetricSkipped("zero WavLM x-vector")
        # clipped: float64 rounding can put the cosine of parallel vectors a few ulp above 1
        return {"spk_sim_wavlm": float(np.clip(ref_vector @ hyp_vector / norms, -1.0, 1.0))}


def load(options: ScorerOptions) -> WavLMSpeakerScorer:
    """The ``wavlm_speaker`` scorer with ``options.wavlm_model`` (a local directory or a Hugging
    Face id; default :data:`DEFAULT_MODEL`), read from local files only unless
    ``options.allow_download`` is set and the hub is not offline.

    Raises:
        ScorerUnavailable: transformers is not installed, the model is not on this machine, or it
            has no trained WavLM x-vector weights (the message says what to do).
    """
    try:
        # optional (the paper-eval extra): imported when the scorer loads
        from transformers import AutoFeatureExtractor, WavLMForXVector
    except ImportError as error:
        raise ScorerUnavailable(f"WavLM speaker similarity needs transformers ({error}): "
                                f"{INSTALL_HINT}") from None
    model_id = options.wavlm_model or DEFAULT_MODEL
    if Path(model_id).expanduser().is_dir():
        model_id = str(Path(model_id).expanduser())
    elif model_id.startswith(PATH_PREFIXES):
        raise ScorerUnavailable(f"WavLM model directory {model_id} (--wavlm-model): no such "
                                "directory; " + _remedy(DEFAULT_MODEL))
    offline = hub_offline()
    local_only = offline or not options.allow_download
    try:
        feature_extractor = AutoFeatureExtractor.from_pretrained(model_id,
                                                                 local_files_only=local_only)
        model, info = WavLMForXVector.from_pretrained(model_id, local_files_only=local_only,
                                                      output_loading_info=True)
    except (OSError, ValueError) as error:      # not found / not a valid id or directory
        if Path(model_id).is_dir():
            why = "an incomplete model directory"
        elif offline and options.allow_download:
            why = "the hub is in offline mode (HF_HUB_OFFLINE)"
        else:
            why = ("nothing is downloaded without --allow-download" if local_only
                   else "download failed")
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ScorerUnavailable(f"WavLM speaker model {model_id!r} is not available here ({why}; "
                                f"{reason}); " + _remedy(model_id)) from None
    untrained = [key for key in info["missing_keys"] if not key.startswith(UNUSED_PREFIXES)]
    if untrained:
        raise ScorerUnavailable(
            f"{model_id!r} has no trained x-vector head (not in its weights: "
            f"{', '.join(sorted(untrained)[:8])}); use a WavLM speaker-verification model such "
            f"as {DEFAULT_MODEL}")
    return WavLMSpeakerScorer(model.float().eval(), feature_extractor, model_id)
