"""The image tokenizer API: images in [0, 1] <-> token grids, and its model directory.

``config.json`` holds ``{"modality": "image", "model": <ImageModelConfig as a dict>}`` and
``model.safetensors`` the weights (:mod:`simvq_audio.model_dir`), so an audio model directory is
recognised and refused with a clear message.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from simvq_audio.config_loader import build_dataclass
from simvq_audio.errors import UserInputError
from simvq_audio.config_loader import config_to_dict
from simvq_audio.image.config import ImageModelConfig, check_image_model
from simvq_audio.image.model import ImageAutoencoder
from simvq_audio.model_dir import check_state_dict, load_model_dir, model_hash, save_model_dir

MODALITY = "image"


class SimVQImageTokenizer(nn.Module):
    """``encode(images [B, 3, H, W] in [0, 1]) -> tokens [B, h, w]`` and
    ``decode(tokens [B, h, w] or [h, w]) -> images [B, 3, H, W]`` in [0, 1].

    ``H`` and ``W`` must be multiples of :attr:`downsampling` (``h = H / f``); the model was
    trained at ``config.resolution``. Encoding and decoding run in eval mode without gradients
    and are deterministic.
    """

    def __init__(self, model: ImageAutoencoder):
        super().__init__()
        self.model = model.eval()
        self._hash: tuple[int, str] | None = None

    @classmethod
    def from_config(cls, config: ImageModelConfig) -> "SimVQImageTokenizer":
        """A freshly initialised tokenizer."""
        return cls(ImageAutoencoder(config))

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike,
                        device: str | torch.device = "cpu") -> "SimVQImageTokenizer":
        """Load a model directory written by :meth:`save_pretrained` (or ``image export``)."""
        data, state = load_model_dir(path, device)
        if data.get("modality") != MODALITY or not isinstance(data.get("model"), dict):
            raise UserInputError(f"{Path(path)} is not an image tokenizer directory (its "
                                 f"config.json lacks \"modality\": \"image\"); audio codec "
                                 f"directories load with the audio API")
        config = build_dataclass(ImageModelConfig, data["model"], f"{Path(path)}/config.json")
        check_image_model(config, f"{Path(path)}/config.json")
        tokenizer = cls.from_config(config)
        check_state_dict(tokenizer.model, state)
        tokenizer.model.load_state_dict(state)
        return tokenizer.to(device)

    def save_pretrained(self, path: str | os.PathLike, card: str | None = None) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (+ ``README.md``) into ``path``."""
        config = {"modality": MODALITY, "model": config_to_dict(self.config)}
        return save_model_dir(path, config, self.model.state_dict(), card)

    @property
    def config(self) -> ImageModelConfig:
        return self.model.config

    @property
    def num_codes(self) -> int:
        return self.model.quantizer.num_codes

    @property
    def downsampling(self) -> int:
        return self.model.downsampling

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def model_hash(self) -> str:
        """The identity recorded in ``.codes`` files (recomputed when the weights change)."""
        version = sum(t._version for t in self.model.state_dict().values())
        if self._hash is None or self._hash[0] != version:
            self._hash = (version, model_hash(self.model.state_dict()))
        return self._hash[1]

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``images [B, 3, H, W]`` (or one ``[3, H, W]``) in [0, 1] -> ``tokens [B, h, w]``."""
        if isinstance(images, torch.Tensor) and images.dim() == 3:
            images = images[None]
        images = self.model.check_images(images)
        if images.numel() and (not torch.isfinite(images).all()
                               or images.min() < 0 or images.max() > 1):
            raise UserInputError("image values must be finite and in [0, 1]")
        return self.model.eval().encode(images.to(self.device) * 2 - 1)

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens [B, h, w]`` or ``[h, w]`` -> ``images [B, 3, h f, w f]`` in [0, 1]."""
        if isinstance(tokens, torch.Tensor) and tokens.dim() == 2:
            tokens = tokens[None]
        images = self.model.eval().decode(
            tokens.to(self.device) if isinstance(tokens, torch.Tensor) else tokens)
        return ((images.float() + 1) / 2).clamp(0, 1)
