"""All configured discriminator families behind one call."""

from __future__ import annotations

import torch
from torch import nn

from simvq_audio.audio.discriminators.band import BandDiscriminator
from simvq_audio.audio.discriminators.family import DiscriminatorFamily, FamilyOutput
from simvq_audio.audio.discriminators.period import PeriodDiscriminator
from simvq_audio.audio.discriminators.resolution import ResolutionDiscriminator
from simvq_audio.audio.config import DiscriminatorsConfig
from simvq_audio.errors import UserInputError


class MultiDiscriminator(nn.Module):
    """Named discriminator families (``families[name]``, the config's section names);
    ``forward(wav [B, T])`` returns ``{name: FamilyOutput}`` in config order."""

    def __init__(self, families: dict[str, nn.Module]):
        super().__init__()
        if not families:
            raise UserInputError("no discriminator is configured: enable at least one of "
                                 "multi_period, multi_resolution, dac_multi_period, "
                                 "dac_multi_band")
        self.families = nn.ModuleDict(families)

    def forward(self, wav: torch.Tensor) -> dict[str, FamilyOutput]:
        return {name: family(wav) for name, family in self.families.items()}


def build_discriminators(config: DiscriminatorsConfig) -> MultiDiscriminator:
    """The families whose config section is not ``None``, with the SimVQ reference's
    conventions: Vocos multi-period (pads only when needed; features: hidden maps but the first,
    and the logits), Vocos multi-resolution, DAC multi-period (always pads; features: hidden
    maps) and DAC multi-band, both DAC families on DAC-preprocessed input."""
    families: dict[str, nn.Module] = {}
    if (c := config.multi_period) is not None:
        families["multi_period"] = DiscriminatorFamily(
            PeriodDiscriminator(p, c.channels, first_feature=1, logits_feature=True)
            for p in c.periods)
    if (c := config.multi_resolution) is not None:
        families["multi_resolution"] = DiscriminatorFamily(
            ResolutionDiscriminator(n_fft, hop, c.channels) for n_fft, hop in c.resolutions)
    if (c := config.dac_multi_period) is not None:
        families["dac_multi_period"] = DiscriminatorFamily(
            (PeriodDiscriminator(p, c.channels, always_pad=True) for p in c.periods),
            preprocess=True)
    if (c := config.dac_multi_band) is not None:
        families["dac_multi_band"] = DiscriminatorFamily(
            (BandDiscriminator(n_fft, c.band_edges, c.channels) for n_fft in c.fft_sizes),
            preprocess=True)
    return MultiDiscriminator(families)
