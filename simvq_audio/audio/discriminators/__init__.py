"""GAN discriminators: the four families of the SimVQ reference (Vocos multi-period and
multi-resolution, DAC multi-period and multi-band). A family maps ``wav [B, T]`` to a
:class:`FamilyOutput`: one logits tensor per sub-discriminator and, for each, the feature maps
that feature matching compares."""

from simvq_audio.audio.discriminators.combined import MultiDiscriminator, build_discriminators
from simvq_audio.audio.discriminators.family import FamilyOutput

__all__ = ["FamilyOutput", "MultiDiscriminator", "build_discriminators"]
