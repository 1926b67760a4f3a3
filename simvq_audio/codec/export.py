"""Export a trained model: the EMA generator of a run's newest complete checkpoint becomes a
model directory (``config.json`` + ``model.safetensors`` + ``README.md`` model card)
(:func:`export_model`), and a model directory becomes ``encoder.onnx`` + ``decoder.onnx``
(:func:`export_onnx_files`, by :mod:`simvq_audio.codec.onnx_export`).

``SimVQCodec.save_pretrained`` writes it: ``config.json`` holds ``{"modality": "audio",
"model": <model config>, "training": <what produced it>}``; ``SimVQCodec.from_pretrained``
loads it. Output policy
(:mod:`simvq_audio.outputs`): a directory exported earlier from the same run is replaced; one
holding other model files is refused unless ``overwrite``; a checkpoint's own files never are.
ONNX files already in the output directory are refused unless ``overwrite``; the model
directory's own files never are.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from simvq_audio.codec.onnx_export import export_onnx
from simvq_audio.codec.simvq_codec import SimVQCodec
from simvq_audio.errors import UserInputError
from simvq_audio.model_dir import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, training_record
from simvq_audio.outputs import check_not_inputs, files_state, refuse_foreign
from simvq_audio.train import checkpoint as ckpt


def export_model(exp_dir: str | Path, out_dir: str | Path,
                 checkpoint: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write the EMA generator of ``checkpoint`` (default: the newest complete one of
    ``exp_dir``) to the model directory ``out_dir``; returns ``out_dir``.

    Raises:
        UserInputError: no complete checkpoint, or the named one is incomplete or damaged;
        ``out_dir`` would overwrite the checkpoint, or holds another model (without
        ``overwrite``).
    """
    exp_dir = Path(exp_dir)
    if checkpoint is None:
        path = ckpt.latest_checkpoint(exp_dir)
        if path is None:
            raise UserInputError(f"{exp_dir} has no complete checkpoint to export "
                                 f"(looked in {exp_dir / ckpt.CHECKPOINTS})")
    else:
        path = Path(checkpoint)
        problem = ckpt.checkpoint_problem(path)
        if problem is not None:
            raise UserInputError(f"cannot export checkpoint {path}: {problem}")
    out_dir = Path(out_dir)
    files = [out_dir / name for name in (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME)]
    check_not_inputs(files, sorted(path.iterdir()))
    refuse_foreign([(out_dir, files_state(files, _exported_from(out_dir, exp_dir)))], overwrite)
    config = ckpt.read_document(path, "config")
    state = ckpt.read_document(path, "trainer_state")
    training = {"step": state["step"], "checkpoint": str(path.resolve()),
                "train_dir": state["train_dir"], "valid_dir": state["valid_dir"],
                "checkpoint_saved_at": state["saved_at"],
                "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "weights": "EMA generator", "ema_decay": config["train"]["ema_decay"],
                "train": config["train"]}
    return SimVQCodec.from_checkpoint(path).save_pretrained(
        out_dir, card=_model_card(config, training), training=training)


def export_onnx_files(model_dir: str | Path, onnx_dir: str | Path,
                      overwrite: bool = False) -> list[tuple[Path, str]]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` of the model directory ``model_dir`` into
    ``onnx_dir``; returns ``(path, check result)`` per file.

    Raises:
        UserInputError: an ONNX file would overwrite a file of ``model_dir``, or ``onnx_dir``
            already holds ONNX files (without ``overwrite``); the model does not load; the onnx
            extra is not installed.
    """
    model_dir, onnx_dir = Path(model_dir), Path(onnx_dir)
    files = [onnx_dir / "encoder.onnx", onnx_dir / "decoder.onnx"]
    check_not_inputs(files, sorted(model_dir.glob("*")))
    refuse_foreign([(onnx_dir, files_state(files, ours=False))], overwrite)
    return export_onnx(SimVQCodec.from_pretrained(model_dir), onnx_dir)


def _exported_from(out_dir: Path, exp_dir: Path) -> bool:
    """Whether ``out_dir`` holds a model exported from a checkpoint of ``exp_dir``."""
    source = (training_record(out_dir) or {}).get("checkpoint")
    return isinstance(source, str) and Path(source).parent == (exp_dir / ckpt.CHECKPOINTS).resolve()


def _model_card(config: dict, training: dict) -> str:
    model, quantizer = config["model"], config["model"]["quantizer"]
    hop = math.prod(model["encoder"]["strides"])
    return (f"# SimVQ speech codec ({quantizer['type']}, {quantizer['num_codes']} codes)\n\n"
            f"- sample rate: {model['sample_rate']} Hz, hop {hop} samples "
            f"({model['sample_rate'] / hop:g} tokens/s), one codebook\n"
            f"- weights: EMA generator (decay {training['ema_decay']}) after "
            f"{training['step']} training steps\n"
            f"- training data: {training['train_dir']}\n"
            f"- validation data: {training['valid_dir'] or 'none'}\n"
            f"- checkpoint: {training['checkpoint']} (saved {training['checkpoint_saved_at']})\n"
            f"- exported: {training['exported_at']}\n")
