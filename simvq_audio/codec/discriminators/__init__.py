"""GAN discriminators: the four families of the SimVQ reference (Vocos multi-period and
multi-resolution, DAC multi-period and multi-band), each built by its named factory from plain
arguments. A family maps ``wav [B, T]`` to a :class:`FamilyOutput`: one logits tensor per
sub-discriminator and, for each, the feature maps that feature matching compares.
:meth:`MultiDiscriminator.from_hparams` builds the families a ``discriminators:`` config enables."""

from simvq_audio.codec.discriminators.band import dac_multi_band
from simvq_audio.codec.discriminators.combined import MultiDiscriminator
from simvq_audio.codec.discriminators.family import FamilyOutput
from simvq_audio.codec.discriminators.period import dac_multi_period, multi_period
from simvq_audio.codec.discriminators.resolution import multi_resolution

__all__ = ["FamilyOutput", "MultiDiscriminator", "dac_multi_band", "dac_multi_period",
           "multi_period", "multi_resolution"]
