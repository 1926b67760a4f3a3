"""All configured discriminator families behind one call."""

from __future__ import annotations

import torch
from torch import nn

from simvq_audio.codec.config import DiscriminatorsConfig
from simvq_audio.codec.discriminators.band import dac_multi_band
from simvq_audio.codec.discriminators.family import FamilyOutput
from simvq_audio.codec.discriminators.period import dac_multi_period, multi_period
from simvq_audio.codec.discriminators.resolution import multi_resolution
from simvq_audio.errors import UserInputError


class MultiDiscriminator(nn.Module):
    """Named discriminator families (``families[name]``, the config's section names);
    ``forward(wav [B, T])`` returns ``{name: FamilyOutput}`` in the order given."""

    def __init__(self, families: dict[str, nn.Module]):
        super().__init__()
        if not families:
            raise UserInputError("no discriminator is configured: enable at least one of "
                                 "multi_period, multi_resolution, dac_multi_period, "
                                 "dac_multi_band")
        self.families = nn.ModuleDict(families)

    @classmethod
    def from_hparams(cls, config: DiscriminatorsConfig) -> MultiDiscriminator:
        """The families whose section of a ``discriminators:`` config is not ``None``, in the
        config's order, with the SimVQ reference's conventions (:func:`multi_period`,
        :func:`multi_resolution`, :func:`dac_multi_period`, :func:`dac_multi_band`)."""
        families: dict[str, nn.Module] = {}
        if (c := config.multi_period) is not None:
            families["multi_period"] = multi_period(c.periods, c.channels)
        if (c := config.multi_resolution) is not None:
            families["multi_resolution"] = multi_resolution(c.resolutions, c.channels)
        if (c := config.dac_multi_period) is not None:
            families["dac_multi_period"] = dac_multi_period(c.periods, c.channels)
        if (c := config.dac_multi_band) is not None:
            families["dac_multi_band"] = dac_multi_band(c.fft_sizes, c.band_edges, c.channels)
        return cls(families)

    def forward(self, wav: torch.Tensor) -> dict[str, FamilyOutput]:
        return {name: family(wav) for name, family in self.families.items()}
