"""Vector quantization, modality-agnostic (no audio imports): SimVQ, the VQ baseline, the exact
nearest-code search and codebook statistics."""

from simvq_audio.quantize.base import VectorQuantizer
from simvq_audio.quantize.search import SearchResult, nearest_code
from simvq_audio.quantize.simvq import SimVQ
from simvq_audio.quantize.stats import CodeUsage, effective_rank, perplexity
from simvq_audio.quantize.vanilla import VanillaVQ

__all__ = ["CodeUsage", "SearchResult", "SimVQ", "VanillaVQ", "VectorQuantizer",
           "effective_rank", "nearest_code", "perplexity"]
