"""simvq-audio: a SimVQ-quantized neural speech codec toolkit."""

from simvq_audio.quantize import CodeUsage, SimVQ, VanillaVQ, nearest_code

__all__ = ["CodeUsage", "SimVQ", "VanillaVQ", "nearest_code"]
__version__ = "0.1.0"
