"""Deprecated: the old name of :mod:`simvq_audio.pretrained_tokenizer` (renamed in issue 26:
``CompressionModel`` wraps a network, where Moshi's class of that name is the network itself).
Importing it warns and gives the same objects, so users' imports keep working."""

from __future__ import annotations

import warnings

from simvq_audio.pretrained_tokenizer import PretrainedTokenizer as CompressionModel
from simvq_audio.pretrained_tokenizer import load_pretrained

__all__ = ["CompressionModel", "load_pretrained"]

warnings.warn("simvq_audio.compression_model is deprecated: it was renamed "
              "simvq_audio.pretrained_tokenizer (CompressionModel is PretrainedTokenizer; "
              "load_pretrained is unchanged)", DeprecationWarning, stacklevel=2)
