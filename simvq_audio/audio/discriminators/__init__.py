"""GAN discriminators. Each maps ``wav [B, T]`` to ``(logits, features)``: one logits tensor
per sub-discriminator and, for each, the list of its hidden feature maps."""

from simvq_audio.audio.discriminators.combined import MultiDiscriminator, build_discriminators

__all__ = ["MultiDiscriminator", "build_discriminators"]
