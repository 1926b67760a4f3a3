"""Export a trained image tokenizer: the EMA weights of the newest complete checkpoint of an
experiment, with its model config, as a model directory (``from_pretrained`` reads it)."""

from __future__ import annotations

from pathlib import Path

from simvq_audio.errors import UserInputError
from simvq_audio.image.tokenizer import SimVQImageTokenizer
from simvq_audio.train import checkpoint as ckpt


def export_checkpoint(exp_dir: Path, out: Path) -> Path:
    """Write ``out`` from the newest complete checkpoint under ``exp_dir``; returns ``out``."""
    path = ckpt.latest_checkpoint(Path(exp_dir))
    if path is None:
        raise UserInputError(f"no complete checkpoint under {Path(exp_dir) / ckpt.CHECKPOINTS}: "
                             f"train first (simvq-audio image train)")
    tokenizer = SimVQImageTokenizer.from_checkpoint(path)
    model = tokenizer.config
    card = (f"# SimVQ image tokenizer\n\nExported from `{path}` (EMA weights, step "
            f"{ckpt.checkpoint_step(path)}). {model.resolution}x"
            f"{model.resolution} RGB -> {model.token_grid[0]}x"
            f"{model.token_grid[1]} tokens, {tokenizer.num_codes} codes.\n")
    return tokenizer.save_pretrained(out, card)
