"""The one interface of the audio codec and the image tokenizer: a wrapper around a pretrained
network (not the ``nn.Module`` itself, unlike Moshi's ``CompressionModel``): how a model is
built, loaded, saved, identified and run.

Both :class:`~simvq_audio.codec.SimVQCodec` and
:class:`~simvq_audio.image.tokenizer.SimVQImageTokenizer` are a
:class:`PretrainedTokenizer`:

* ``from_config(recipe YAML path or model config)``: an untrained model (tests, benchmarks);
* ``from_pretrained(model directory, device=, dtype=)`` and ``save_pretrained(directory)``;
  both also take ``search_backend=`` (``"auto"``, ``"torch"`` or ``"triton"``), the
  quantizer's nearest-code search, fixed when the model is built;
* ``encode`` and ``decode`` (signatures per modality), always in eval mode, without gradients
  (``torch.inference_mode``), under autocast to ``compute_dtype`` unless it is float32;
* :attr:`~PretrainedTokenizer.model_hash`: the identity ``.codes`` files record, recomputed
  whenever a weight changed.

A model directory (:mod:`simvq_audio.model_dir`) holds ``config.json`` =
``{"modality": "audio" | "image", "model": <the modality's model config>}`` (and optionally
``"training"``: what produced it) and ``model.safetensors``. :func:`load_pretrained` loads
either kind by its ``modality``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import torch
from torch import nn

from simvq_audio import validate
from simvq_audio.config_loader import config_to_dict
from simvq_audio.errors import UserInputError, cut
from simvq_audio.model_dir import (
    CONFIG_NAME,
    check_shapes,
    check_state_dict,
    load_model_dir,
    model_hash,
    read_config,
    read_modality,
    save_model_dir,
)
from simvq_audio.quantize.search import check_backend
from simvq_audio.train import checkpoint as ckpt

ConfigT = TypeVar("ConfigT")
ModelT = TypeVar("ModelT", bound="PretrainedTokenizer")

MODEL_CLASSES = {"audio": "simvq_audio.codec.SimVQCodec",
                 "image": "simvq_audio.image.tokenizer.SimVQImageTokenizer"}
"""The class that loads each modality's model directories."""
COMPUTE_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


class PretrainedTokenizer(ABC, Generic[ConfigT]):
    """A network (:attr:`model`, in eval mode, its parameters frozen) with the ``model:``
    config section it was built from (:attr:`config`, saved with it).

    Subclasses set :attr:`modality` and :attr:`kind` and say how a config is read, which
    tensors its model holds and how the model is built (:meth:`model_config`,
    :meth:`recipe_model_config`, :meth:`weight_shapes`, :meth:`build_model`).
    """

    modality: ClassVar[str]
    """The ``modality`` of its model directories."""
    kind: ClassVar[str]
    """What it is, with its article, for messages (``"a codec model"``)."""

    def __init__(self, model: nn.Module, config: ConfigT,
                 compute_dtype: torch.dtype | None = None):
        self.model = model.eval().requires_grad_(False)
        self.config = config
        self.compute_dtype = _compute_dtype(compute_dtype or torch.float32)
        self._hash: tuple[tuple, str] | None = None

    # -- what each modality provides --------------------------------------------------------
    @classmethod
    @abstractmethod
    def model_config(cls, data: Any, where: str) -> ConfigT:
        """The checked model config of ``data`` (the ``model`` entry of a ``config.json``)."""

    @classmethod
    @abstractmethod
    def recipe_model_config(cls, path: str | os.PathLike) -> ConfigT:
        """The checked model config of a recipe YAML (the whole file is checked)."""

    @classmethod
    @abstractmethod
    def build_model(cls, config: ConfigT, search_backend: str = "auto") -> nn.Module:
        """The untrained network ``config`` describes, its quantizer searching with
        ``search_backend``."""

    @classmethod
    @abstractmethod
    def weight_shapes(cls, config: ConfigT) -> Iterator[tuple[str, tuple[int, ...]]]:
        """``(name, shape)`` of each tensor of :meth:`build_model`'s state dict for ``config``,
        from the config alone (lazily, nothing built or allocated): what
        :meth:`from_pretrained` checks a directory's weights against before it builds."""

    def identity_settings(self) -> str | None:
        """Settings that change the tokens without changing a weight (hashed with the weights
        into :attr:`model_hash`); ``None``: the weights alone."""
        return None

    @abstractmethod
    def encode(self, *args: Any, **kwargs: Any) -> Any:
        """Inputs -> tokens (the modality's shapes)."""

    @abstractmethod
    def decode(self, *args: Any, **kwargs: Any) -> Any:
        """Tokens -> outputs (the modality's shapes)."""

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_config(cls: type[ModelT], config: str | os.PathLike | ConfigT,
                    device: str | torch.device | None = None,
                    dtype: torch.dtype | None = None, search_backend: str = "auto") -> ModelT:
        """An untrained model of a recipe YAML (its ``model:`` section) or of a model config,
        on ``device``, running under autocast to ``dtype`` (:meth:`set_compute_dtype`)."""
        if isinstance(config, (str, os.PathLike)):
            config = cls.recipe_model_config(config)
        return cls(cls.build_model(config, search_backend), config, compute_dtype=dtype
                   ).to(device)

    @classmethod
    def from_pretrained(cls: type[ModelT], path: str | os.PathLike,
                        device: str | torch.device | None = None,
                        dtype: torch.dtype | None = None, search_backend: str = "auto"
                        ) -> ModelT:
        """Load a model directory that :meth:`save_pretrained` (or an export) wrote, onto
        ``device``; ``dtype`` is the compute dtype (:meth:`set_compute_dtype`: the weights stay
        float32).

        A directory of the other modality, a config that is not this model's, weights that do
        not fit it or a damaged file is refused with one :class:`UserInputError`. The weights
        are checked against the shapes its config implies (:meth:`weight_shapes`) before the
        model is built, once, so a config cannot make it allocate more than the file holds."""
        path = Path(validate.file_path(path, "path"))
        data, state = load_model_dir(path)
        where = str(path / CONFIG_NAME)
        modality = read_modality(data, where)
        if modality != cls.modality:
            other = MODEL_CLASSES[modality].rsplit(".", 1)[1]
            raise UserInputError(f"{path} holds a model of modality '{modality}', not "
                                 f"{cls.kind}; load it with {other}.from_pretrained")
        extra = sorted(data.keys() - {"modality", "model", "training"})
        if "model" not in data or extra:
            raise UserInputError(f"{where} is not {cls.kind} config: expected the keys 'model' "
                                 f"(and optionally 'modality', 'training'), found {sorted(data)}")
        config = cls.model_config(data["model"], where)
        # read up to a few times the file's tensors: a near miss is listed name by name
        check_shapes(_expected_shapes(cls.weight_shapes(config), 4 * len(state) + 64, where),
                     state, f"{path}: the weights do not fit its config.json")
        check_backend(search_backend)  # a bad argument, not a config that cannot be built
        try:  # the weights fit: building allocates what the file holds, once more
            model = cls.build_model(config, search_backend)
        except (ArithmeticError, LookupError, RuntimeError, TypeError, ValueError) as error:
            raise UserInputError(f"{where} describes a model that cannot be built "
                                 f"({type(error).__name__}: {cut(str(error), 200)})") from None
        model.load_state_dict(state)
        return cls(model, config, compute_dtype=dtype).to(device)

    @classmethod
    def from_checkpoint(cls: type[ModelT], path: str | os.PathLike) -> ModelT:
        """The model of a training checkpoint folder (its ``config`` document's ``model``
        section) with the checkpoint's EMA weights, what export ships and validation measures."""
        path = Path(path)
        config = cls.model_config(ckpt.read_document(path, "config")["model"],
                                  f"{path}/config.json")
        model = cls.from_config(config)
        model.load_weights(ckpt.read_tensors(path, "ema_generator"))
        return model

    def load_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Replace the weights with ``state_dict`` (a training checkpoint's, say) once it is
        checked to fit the model: one :class:`UserInputError` lists every missing, unexpected
        or misshapen tensor."""
        check_state_dict(self.model, state_dict)
        self.model.load_state_dict(state_dict)

    def save_pretrained(self, path: str | os.PathLike, card: str | None = None,
                        training: dict[str, Any] | None = None) -> Path:
        """Write the model directory that :meth:`from_pretrained` reads (``card``: its
        ``README.md``; ``training``: what produced the weights, recorded as ``config.json``'s
        ``"training"``); returns its path. Every writer of model directories goes through
        here, so each carries its ``modality``."""
        config = {"modality": self.modality, "model": config_to_dict(self.config)}
        if training is not None:
            config["training"] = training
        return save_model_dir(path, config, self.model.state_dict(), card)

    def to(self: ModelT, device: str | torch.device | None = None,
           dtype: torch.dtype | None = None) -> ModelT:
        """Move the weights to ``device`` (``model.to("cuda")``). They stay float32, so a
        ``dtype`` (here or in place of ``device``) is refused: :meth:`set_compute_dtype`
        chooses the autocast dtype encode and decode run under. Returns the model."""
        if isinstance(device, torch.dtype) or dtype is not None:
            wanted = device if isinstance(device, torch.dtype) else dtype
            raise UserInputError(
                f"{type(self).__name__}.to moves the model between devices only (its weights "
                f"stay float32); call .set_compute_dtype({wanted}) to run encode and decode "
                "under autocast to that dtype")
        if device is not None:
            device = validate.device(device)
            try:
                self.model.to(device)
            except (AssertionError, RuntimeError) as error:  # no such device in this build
                raise UserInputError(f"cannot use device {device}: {error}") from None
        return self

    def set_compute_dtype(self: ModelT, dtype: torch.dtype) -> ModelT:
        """Run :meth:`encode` and :meth:`decode` under autocast to ``dtype`` (bfloat16 or
        float16), or without autocast (float32); the weights stay float32 either way. Returns
        the model."""
        self.compute_dtype = _compute_dtype(dtype)
        return self

    # -- properties -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def model_hash(self) -> str:
        """The identity of what turns inputs into tokens (32 hex characters,
        :func:`simvq_audio.model_dir.model_hash` of the weights and
        :meth:`identity_settings`); computed again whenever a weight changed."""
        state = self.model.state_dict()
        key = (self.identity_settings(),
               *((t._version, t.data_ptr(), t.device) for t in state.values()))
        if self._hash is None or self._hash[0] != key:
            self._hash = (key, model_hash(state, self.identity_settings()))
        return self._hash[1]

    def inference(self) -> contextlib.AbstractContextManager:
        """The grad mode of :meth:`encode` and :meth:`decode`: ``torch.inference_mode``, under
        autocast to :attr:`compute_dtype` unless it is float32."""
        return inference(self.device, self.compute_dtype)


def load_pretrained(path: str | os.PathLike, device: str | torch.device | None = None,
                    dtype: torch.dtype | None = None, search_backend: str = "auto"
                    ) -> PretrainedTokenizer:
    """Load a model directory of either modality with the class its ``modality`` names
    (:data:`MODEL_CLASSES`)."""
    path = Path(validate.file_path(path, "path"))
    modality = read_modality(read_config(path), str(path / CONFIG_NAME))
    module, name = MODEL_CLASSES[modality].rsplit(".", 1)
    model_class = getattr(importlib.import_module(module), name)
    return model_class.from_pretrained(path, device, dtype, search_backend)


@contextlib.contextmanager
def inference(device: torch.device, compute_dtype: torch.dtype) -> Iterator[None]:
    """``torch.inference_mode``, under autocast to ``compute_dtype`` on ``device``'s type
    unless it is float32."""
    with torch.inference_mode(), torch.autocast(device.type, dtype=compute_dtype,
                                                enabled=compute_dtype != torch.float32):
        yield


def _compute_dtype(dtype: object) -> torch.dtype:
    if dtype not in COMPUTE_DTYPES:
        raise UserInputError(f"compute dtype must be float32, bfloat16 or float16, "
                             f"got {validate.describe(dtype)}")
    return dtype


def _expected_shapes(shapes: Iterable[tuple[str, tuple[int, ...]]], limit: int,
                     where: str) -> dict[str, tuple[int, ...]]:
    """``shapes`` (a config's :meth:`~PretrainedTokenizer.weight_shapes`) as a dict, read no
    further than ``limit`` tensors: a config asking for absurd depths is refused at once instead
    of being walked layer by layer."""
    expected = {}
    for name, shape in shapes:
        if len(expected) == limit:
            raise UserInputError(f"{where} describes a model far larger than its weights file "
                                 "(more tensors than it holds)")
        expected[name] = shape
    return expected
