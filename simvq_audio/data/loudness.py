"""Loudness normalisation of training crops: gain to a target RMS level in dBFS.

The gain is capped (``max_gain_db``) so near-silent crops are not blown up into noise, and lowered
where needed so the peak stays within [-1, 1] (no clipping).
"""

from __future__ import annotations

import torch


def normalize_rms(wav: torch.Tensor, length: int, target_dbfs: float = -20.0,
                  max_gain_db: float = 20.0) -> torch.Tensor:
    """Scale ``wav [T]`` so its first ``length`` samples have RMS ``target_dbfs`` (dBFS).

    Padding after ``length`` is ignored for the level and stays zero. Returns a new ``[T]`` tensor.
    """
    valid = wav[:length]
    if valid.numel() == 0:
        return wav.clone()
    rms = valid.pow(2).mean().sqrt().item()
    peak = valid.abs().max().item()
    gain = 10.0 ** (max_gain_db / 20.0)
    if rms > 0:
        gain = min(gain, 10.0 ** (target_dbfs / 20.0) / rms)
    if peak > 0:
        gain = min(gain, 1.0 / peak)
    return wav * gain
