"""All configured discriminator families behind one call."""

from __future__ import annotations

import torch
from torch import nn

from simvq_audio.audio.discriminators.band import MultiBandDiscriminator
from simvq_audio.audio.discriminators.period import MultiPeriodDiscriminator
from simvq_audio.audio.discriminators.resolution import MultiResolutionDiscriminator
from simvq_audio.config import DiscriminatorsConfig
from simvq_audio.errors import UserInputError


class MultiDiscriminator(nn.Module):
    """Named discriminator families (``families[name]``); ``forward(wav [B, T])`` returns the
    logits and feature lists of all their sub-discriminators, concatenated in family order."""

    def __init__(self, families: dict[str, nn.Module]):
        super().__init__()
        if not families:
            raise UserInputError("no discriminator is configured: enable at least one of "
                                 "multi_period, multi_resolution, multi_band")
        self.families = nn.ModuleDict(families)

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        logits, features = [], []
        for family in self.families.values():
            family_logits, family_features = family(wav)
            logits += family_logits
            features += family_features
        return logits, features


def build_discriminators(config: DiscriminatorsConfig) -> MultiDiscriminator:
    """The families whose config section is not ``None``."""
    families: dict[str, nn.Module] = {}
    if config.multi_period is not None:
        families["multi_period"] = MultiPeriodDiscriminator(
            config.multi_period.periods, config.multi_period.channels)
    if config.multi_resolution is not None:
        families["multi_resolution"] = MultiResolutionDiscriminator(
            config.multi_resolution.resolutions, config.multi_resolution.channels)
    if config.multi_band is not None:
        families["multi_band"] = MultiBandDiscriminator(
            config.multi_band.fft_sizes, config.multi_band.band_edges, config.multi_band.channels)
    return MultiDiscriminator(families)
