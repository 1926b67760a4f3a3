"""Import a SimVQ authors' checkpoint as a model directory (``simvq-audio import-reference``).

The source is a local ``.ckpt`` file or a Hugging Face reference ``REPO_ID:PATH[@REVISION]``
(a local path that exists wins). The checkpoint is read with the allow-list unpickler, converted
(:mod:`simvq_audio.reference.convert`), loaded into our codec model, and written as
``config.json`` + ``model.safetensors`` + ``README.md`` all or nothing
(:func:`~simvq_audio.model_dir.save_model_dir`): an error or Ctrl-C leaves no ``OUT_DIR``
behind (or, when it existed, its previous files), and rerunning resumes. Output policy
(:mod:`simvq_audio.outputs`): an ``OUT_DIR`` imported earlier from the same checkpoint (same
sha256, same EMA/raw choice) is replaced; one holding any other model files is refused unless
``overwrite``, with a message saying what differs (the weights, or the checkpoint).

The ``"training"`` record of ``config.json`` holds the provenance: ``source``, ``checkpoint``,
``sha256``, ``weights`` (``"EMA"`` or ``"raw"``), ``epoch``/``global_step`` when recorded,
``sample_rate_from`` (where the model's sample rate came from; directories written before it
named this ``sample_rate`` and still load) and ``hub`` for a Hugging Face download.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

from simvq_audio.codec import SimVQCodec
from simvq_audio.errors import UserInputError, quote
from simvq_audio.model_dir import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, training_record
from simvq_audio.outputs import Existing, Kind, check_not_inputs, files_state, refuse_foreign
from simvq_audio.reference import hub
from simvq_audio.reference.convert import Converted, convert_state
from simvq_audio.reference.safe_pickle import TorchCheckpoint

UPSTREAM = "github youngsheen/SimVQ, Hugging Face zyx123/SimVQ"
_MODEL_FILES = (WEIGHTS_NAME, CARD_NAME, CONFIG_NAME)
_MAX_PROGRESS = 2**63 - 1
"""Largest ``epoch`` or ``global_step`` recorded (Lightning's are 64-bit counters)."""


def import_reference_checkpoint(checkpoint: str | os.PathLike, out_dir: str | os.PathLike,
                                raw: bool = False, overwrite: bool = False) -> Path:
    """Convert the reference checkpoint ``checkpoint`` into the model directory ``out_dir``.

    Args:
        checkpoint: a local ``.ckpt`` path, or ``"owner/name:path/in/repo.ckpt[@revision]"``.
        out_dir: the model directory to write (``SimVQCodec.from_pretrained`` reads it).
        raw: take the raw weights instead of their EMA copies (the default).
        overwrite: replace the model files of an ``out_dir`` that holds a model not imported
            from this checkpoint with the same ``raw``.

    Returns ``out_dir``. Raises :class:`UserInputError` with one line for anything wrong with
    the input; nothing is left in ``out_dir`` then.
    """
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite, None, raw)  # before a download: any non-import
    path, hub_file = _resolve(checkpoint)
    check_not_inputs([out_dir / name for name in _MODEL_FILES], [path])
    digest = _sha256(path)
    _check_out_dir(out_dir, overwrite, digest, raw)
    with TorchCheckpoint(path) as ckpt:
        converted = convert_state(ckpt.root, raw=raw)
        progress = _progress(ckpt.root)
    codec = _loaded_codec(converted)
    source = {"source": f"the SimVQ authors' checkpoint ({UPSTREAM})", "checkpoint": path.name,
              "sha256": digest, "weights": converted.notes["weights"], **progress,
              "sample_rate_from": converted.notes["sample_rate_from"]}
    if hub_file is not None:
        source["hub"] = str(hub_file)
    codec.save_pretrained(out_dir, model_card(converted, source), training=source)
    return out_dir


def model_card(converted: Converted, source: dict[str, Any]) -> str:
    """The ``README.md`` of an imported model: provenance, sizes, licence note, usage."""
    model = converted.config
    enc, quant, dec = model.encoder, model.quantizer, model.decoder
    hop = math.prod(enc.strides)
    progress = ", ".join(f"{key.replace('_', ' ')} {source[key]}"
                         for key in ("epoch", "global_step") if key in source)
    origin = f"`{source['hub']}` (Hugging Face)" if "hub" in source else "a local file"
    return (
        f"# SimVQ reference codec ({quant.num_codes} codes), imported\n\n"
        f"The weights are the SimVQ authors' ({UPSTREAM}), converted to this toolkit's format by "
        f"`simvq-audio import-reference`. They are not ours: check the upstream licence and "
        f"terms before you redistribute them.\n\n"
        f"## Source\n\n"
        f"- file: `{source['checkpoint']}`, from {origin}\n"
        f"- sha256: `{source['sha256']}`\n"
        f"- weights: {source['weights']}"
        f"{' (the EMA copies the authors evaluate with)' if source['weights'] == 'EMA' else ''}\n"
        f"- training progress: {progress or 'not recorded in the checkpoint'}\n"
        f"- sample rate: {model.sample_rate} Hz ({source['sample_rate_from']})\n\n"
        f"## Sizes (read from the tensor shapes)\n\n"
        f"- codebook: K = {quant.num_codes} codes of dimension {quant.dim} (frozen C, linear "
        f"map W{' with bias' if quant.bias else ''}); hop {hop} samples, "
        f"{model.sample_rate / hop:g} tokens/s, {math.ceil(math.log2(quant.num_codes))} bits "
        f"per token\n"
        f"- encoder: {enc.channels} channels, strides {enc.strides}, kernels {enc.kernel_size} / "
        f"{enc.last_kernel_size} (last) / {enc.residual_kernel_size} (residual), "
        f"{enc.residual_units} residual unit(s) per stage, {enc.lstm_layers} LSTM layers, "
        f"padding {enc.padding}\n"
        f"- decoder: dim {dec.dim}, intermediate {dec.intermediate_dim}, {dec.num_layers} "
        f"ConvNeXt blocks, {dec.resnet_blocks} ResNet blocks"
        f"{' + attention' if dec.attention else ''}, n_fft {dec.n_fft}\n\n"
        f"## Use\n\n"
        f"```python\n"
        f"from simvq_audio.codec import SimVQCodec\n\n"
        f"codec = SimVQCodec.from_pretrained(\"path/to/this/directory\")\n"
        f"tokens = codec.encode(wav, sample_rate={model.sample_rate})\n"
        f"audio = codec.decode(tokens)\n"
        f"```\n")


def _check_out_dir(out_dir: Path, overwrite: bool, digest: str | None, raw: bool) -> None:
    """Refuse an ``out_dir`` holding model files that are not an import of the checkpoint of
    sha256 ``digest`` with the same ``raw`` (``digest`` None: of any checkpoint)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"{out_dir} exists and is not a directory")
    recorded = training_record(out_dir) or {}
    source = recorded.get("source")
    imported = isinstance(source, str) and source.startswith("the SimVQ authors' checkpoint")
    ours = (imported and digest in (None, recorded.get("sha256"))
            and (recorded.get("weights") == "raw") == raw)
    state = files_state([out_dir / name for name in _MODEL_FILES], ours)
    if state.kind is Kind.FOREIGN and imported:
        state = Existing(Kind.FOREIGN, _difference(recorded, digest, raw))
    refuse_foreign([(out_dir, state)], overwrite)


def _difference(recorded: dict[str, Any], digest: str | None, raw: bool) -> str:
    """What differs between an earlier import (its ``training`` record) and this one of the
    checkpoint of sha256 ``digest`` (None: not known yet), and what to do: the reason of a
    refused ``OUT_DIR``."""
    had = "raw" if recorded.get("weights") == "raw" else "EMA"
    wanted = "raw" if raw else "EMA"
    name = quote(recorded.get("checkpoint"))
    what = (f"checkpoint {name}" if digest is None else "this checkpoint"
            if digest == recorded.get("sha256") else f"another checkpoint ({name})")
    weights = f"; this run asks for its {wanted} weights" if had != wanted else ""
    return (f"holds the {had} weights of {what}, imported earlier{weights}: write to another "
            f"directory to keep both")


def _progress(root: Any) -> dict[str, int]:
    """The checkpoint's ``epoch`` and ``global_step`` where it records them (counts >= 0)."""
    progress = {}
    for key in ("epoch", "global_step"):
        value = root.get(key)
        if value is None:
            continue
        if not (isinstance(value, int) and not isinstance(value, bool)
                and 0 <= value <= _MAX_PROGRESS):
            raise UserInputError(f"the checkpoint's {key} is {quote(value)}; expected a whole "
                                 f"number in 0-{_MAX_PROGRESS}")
        progress[key] = value
    return progress


def _resolve(checkpoint: str | os.PathLike) -> tuple[Path, hub.HubFile | None]:
    path = Path(checkpoint)
    if path.exists() or not isinstance(checkpoint, str):
        return path, None
    hub_file = hub.parse_hub_reference(checkpoint)
    if hub_file is None:
        return path, None  # TorchCheckpoint reports the missing file
    return hub.download(hub_file), hub_file


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    except FileNotFoundError:
        raise UserInputError(f"checkpoint {path} does not exist") from None
    except OSError as error:
        raise UserInputError(f"cannot read checkpoint {path}: {error.strerror}") from None
    return digest.hexdigest()


def _loaded_codec(converted: Converted) -> SimVQCodec:
    """Our codec with the converted tensors loaded (strict)."""
    codec = SimVQCodec.from_config(converted.config)
    codec.load_weights(converted.state_dict)
    return codec
