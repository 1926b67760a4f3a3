"""Nested state (optimizer ``state_dict``, RNG states) as safetensors tensors + a JSON skeleton.

Checkpoints never use pickle: :func:`flatten_state` replaces every tensor in a nest of dicts,
lists and tuples by a reference ``{"__tensor__": name}`` and returns the tensors separately;
:func:`unflatten_state` puts them back. Dict keys keep their type (optimizer states are keyed by
``int`` parameter ids), so a round trip gives back an equal structure (tuples come back as lists).
"""

from __future__ import annotations

from typing import Any

import torch

_TENSOR = "__tensor__"
_DICT = "__dict__"


def flatten_state(state: Any) -> tuple[dict[str, torch.Tensor], Any]:
    """``state`` -> ``(tensors, skeleton)``: tensors by generated name, a JSON-safe skeleton."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            tensors[path] = value.detach().cpu().contiguous()
            return {_TENSOR: path}
        if isinstance(value, dict):
            return {_DICT: [[key, walk(item, f"{path}.{key}")] for key, item in value.items()]}
        if isinstance(value, (list, tuple)):
            return [walk(item, f"{path}.{i}") for i, item in enumerate(value)]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot store {type(value).__name__} at {path!r} in a checkpoint")

    return tensors, walk(state, "state")


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, dict) and _TENSOR in skeleton:
        return tensors[skeleton[_TENSOR]]
    if isinstance(skeleton, dict):
        return {key: unflatten_state(item, tensors) for key, item in skeleton[_DICT]}
    if isinstance(skeleton, list):
        return [unflatten_state(item, tensors) for item in skeleton]
    return skeleton
