"""The image tokenizer API: images in [0, 1] <-> token grids, and its model directory.

:class:`SimVQImageTokenizer` is the image :class:`~simvq_audio.pretrained_tokenizer.
PretrainedTokenizer`: its model directory's ``config.json`` holds ``{"modality": "image",
"model": <ImageModelConfig as a dict>}`` and ``model.safetensors`` the weights
(:mod:`simvq_audio.model_dir`), so an audio model directory is recognised and refused with a
clear message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch

from simvq_audio.errors import UserInputError
from simvq_audio.image.config import ImageModelConfig, config_from_dict, load_config
from simvq_audio.image.model import ImageAutoencoder
from simvq_audio.pretrained_tokenizer import PretrainedTokenizer
from simvq_audio.weight_shapes import image_shapes


class SimVQImageTokenizer(PretrainedTokenizer[ImageModelConfig]):
    """``encode(images [B, 3, H, W] in [0, 1]) -> tokens [B, h, w]`` and
    ``decode(tokens [B, h, w] or [h, w]) -> images [B, 3, H, W]`` in [0, 1].

    ``H`` and ``W`` must be multiples of :attr:`downsampling` (``h = H / f``); the model was
    trained at ``config.resolution``. Encoding and decoding run in eval mode without gradients
    and are deterministic.

    Args:
        model: the autoencoder; put in eval mode with gradients off.
        config: the ``model:`` config section it was built from (saved with it).
        compute_dtype: float32, or bfloat16/float16 to run under autocast (weights stay float32).
    """

    modality = "image"
    kind = "an image tokenizer"

    @classmethod
    def model_config(cls, data: dict, where: str) -> ImageModelConfig:
        return config_from_dict({"model": data}, where).model

    @classmethod
    def recipe_model_config(cls, path: str | os.PathLike) -> ImageModelConfig:
        return load_config(path).model

    @classmethod
    def build_model(cls, config: ImageModelConfig, search_backend: str = "auto"
                    ) -> ImageAutoencoder:
        return ImageAutoencoder.from_hparams(config, search_backend)

    @classmethod
    def weight_shapes(cls, config: ImageModelConfig) -> Iterator[tuple[str, tuple[int, ...]]]:
        return image_shapes(config)

    @property
    def num_codes(self) -> int:
        return self.model.quantizer.num_codes

    @property
    def downsampling(self) -> int:
        return self.model.downsampling

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``images [B, 3, H, W]`` (or one ``[3, H, W]``) in [0, 1] -> ``tokens [B, h, w]``."""
        if isinstance(images, torch.Tensor) and images.dim() == 3:
            images = images[None]
        images = self.model.check_images(images)
        if images.numel() and (not torch.isfinite(images).all()
                               or images.min() < 0 or images.max() > 1):
            raise UserInputError("image values must be finite and in [0, 1]")
        with self.inference():
            return self.model.encode(images.to(self.device) * 2 - 1)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens [B, h, w]`` or ``[h, w]`` -> ``images [B, 3, h f, w f]`` in [0, 1]."""
        if isinstance(tokens, torch.Tensor) and tokens.dim() == 2:
            tokens = tokens[None]
        with self.inference():
            images = self.model.decode(
                tokens.to(self.device) if isinstance(tokens, torch.Tensor) else tokens)
        return ((images.float() + 1) / 2).clamp(0, 1)
