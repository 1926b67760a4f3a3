"""Export a trained model: the EMA generator of a run's newest complete checkpoint becomes a
model directory (``config.json`` + ``model.safetensors`` + ``README.md`` model card).

``config.json`` holds ``{"model": <model config>, "training": <what produced it>}``; rebuild the
model config with ``config_from_dict({"model": data["model"]}).model``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from simvq_audio.errors import UserInputError
from simvq_audio.model_dir import save_model_dir
from simvq_audio.train import checkpoint as ckpt


def export_model(exp_dir: str | Path, out_dir: str | Path,
                 checkpoint: str | Path | None = None) -> Path:
    """Write the EMA generator of ``checkpoint`` (default: the newest complete one of
    ``exp_dir``) to the model directory ``out_dir``; returns ``out_dir``.

    Raises:
        UserInputError: no complete checkpoint, or the named one is incomplete or damaged.
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
    config = ckpt.read_document(path, "config")
    state = ckpt.read_document(path, "trainer_state")
    training = {"step": state["step"], "checkpoint": str(path.resolve()),
                "train_dir": state["train_dir"], "valid_dir": state["valid_dir"],
                "checkpoint_saved_at": state["saved_at"],
                "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "weights": "EMA generator", "ema_decay": config["train"]["ema_decay"],
                "train": config["train"]}
    weights = ckpt.read_tensors(path, "ema_generator")
    return save_model_dir(out_dir, {"model": config["model"], "training": training}, weights,
                          card=_model_card(config, training))


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
