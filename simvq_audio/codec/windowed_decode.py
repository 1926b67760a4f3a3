"""Decoding long token sequences window by window, so memory stays bounded.

The Vocos decoder is not causal and not local: its convolutions see a few dozen frames on each
side, but its self-attention block and GroupNorms look at the whole sequence. Decoding in
windows therefore only approximates one pass: each window of ``window_frames`` is decoded with
``context_frames`` extra frames on both sides, and only its middle is kept (no cross-fade; the
context covers the convolutions' and the ISTFT's reach). ``tools/bench_codec.py`` measures the
difference to a one-pass decode.
"""

from __future__ import annotations

import torch

from simvq_audio.codec.model import CodecModel


def decode_in_windows(model: CodecModel, tokens: torch.Tensor, window_frames: int,
                      context_frames: int) -> torch.Tensor:
    """``tokens [B, T']`` -> ``wav [B, T' * hop]``; one pass when ``T' <= window_frames``."""
    num_frames, hop = tokens.shape[-1], model.hop_length
    if num_frames <= window_frames:
        return model.decode_tokens(tokens)
    pieces = []
    for start in range(0, num_frames, window_frames):
        stop = min(start + window_frames, num_frames)
        low, high = max(0, start - context_frames), min(num_frames, stop + context_frames)
        wav = model.decode_tokens(tokens[:, low:high])
        pieces.append(wav[:, (start - low) * hop:(stop - low) * hop])
    return torch.cat(pieces, dim=-1)
