"""Import a SimVQ authors' checkpoint as a model directory (``simvq-audio import-reference``).

The source is a local ``.ckpt`` file or a Hugging Face reference ``REPO_ID:PATH[@REVISION]``
(a local path that exists wins). The checkpoint is read with the allow-list unpickler, converted
(:mod:`simvq_audio.reference.convert`), loaded into our codec model, and written as
``config.json`` + ``model.safetensors`` + ``README.md`` into a hidden folder next to
``OUT_DIR`` that is then renamed into place: an error or Ctrl-C leaves no ``OUT_DIR`` behind
(or, when it existed, its previous files). Output policy (:mod:`simvq_audio.outputs`): an
``OUT_DIR`` imported earlier from the same checkpoint (same sha256, same EMA/raw choice) is
replaced; one holding any other model files is refused unless ``overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simvq_audio.atomic import fsync_dir
from simvq_audio.errors import UserInputError
from simvq_audio.model_dir import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME
from simvq_audio.outputs import check_not_inputs, files_state, refuse_foreign
from simvq_audio.reference import hub
from simvq_audio.reference.convert import Converted, convert_state
from simvq_audio.reference.safe_pickle import TorchCheckpoint

if TYPE_CHECKING:
    from simvq_audio.codec import SimVQCodec

UPSTREAM = "github youngsheen/SimVQ, Hugging Face zyx123/SimVQ"
_MODEL_FILES = (WEIGHTS_NAME, CARD_NAME, CONFIG_NAME)
"""Written in this order into an existing directory: the config last."""


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
        progress = {key: ckpt.root.get(key) for key in ("epoch", "global_step")}
    progress = {k: v for k, v in progress.items() if isinstance(v, int) and not isinstance(v, bool)}
    codec = _loaded_codec(converted)
    source = {"source": f"the SimVQ authors' checkpoint ({UPSTREAM})", "checkpoint": path.name,
              "sha256": digest, "weights": converted.notes["weights"], **progress,
              "sample_rate": converted.notes["sample_rate_from"]}
    if hub_file is not None:
        source["hub"] = str(hub_file)
    _write(out_dir, codec, source, model_card(converted, source))
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
        f"- sample rate: {model.sample_rate} Hz ({source['sample_rate']})\n\n"
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
    try:
        recorded = json.loads((out_dir / CONFIG_NAME).read_text(encoding="utf-8"))["training"]
        ours = recorded["source"].startswith("the SimVQ authors' checkpoint") and (
            digest in (None, recorded["sha256"])) and (recorded["weights"] == "raw") == raw
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        ours = False
    refuse_foreign([(out_dir, files_state([out_dir / name for name in _MODEL_FILES], ours))],
                   overwrite)


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
    from simvq_audio.codec import SimVQCodec

    codec = SimVQCodec.from_config(converted.config)
    codec.load_weights(converted.state_dict)
    return codec


def _write(out_dir: Path, codec: SimVQCodec, source: dict[str, Any], card: str) -> None:
    """Write the model files (``source``: the ``training`` record of ``config.json``) into a
    hidden folder next to ``out_dir``, then move them in."""
    created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]
    staging = None
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = out_dir.parent / f".{out_dir.name}.import-{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()  # not mkdtemp: the directory gets the usual (umask) permissions
        codec.save_pretrained(staging, card, training=source)
        if not out_dir.exists():
            os.rename(staging, out_dir)
            staging = None
        else:
            for name in _MODEL_FILES:
                os.replace(staging / name, out_dir / name)
        fsync_dir(out_dir.parent if out_dir in created else out_dir)
    except BaseException as error:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
            staging = None
        for folder in sorted(created, key=lambda p: len(p.parts), reverse=True):
            if folder == out_dir:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                _rmdir(folder)
        if isinstance(error, OSError):
            raise UserInputError(f"cannot write {out_dir}: {error}") from None
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _rmdir(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
