#!/usr/bin/env python
"""Where a SimVQ codec's codes sit relative to its latents, for each checkpoint or model dir given.

Prints one row per model: held-out frames, codes used, codes that would be used with W and b
set from the latents' mean and covariance, the latents' and the codes' spread along the
latents' principal axes, and W's singular values (simvq_audio/study/code_geometry.py;
docs/collapse_study.md, "Why the mini codec collapsed"):

    .venv/bin/python tools/code_geometry.py --data-dir egs/mini/data/test \\
        egs/mini/exp/tiny/checkpoints/step_00000100 egs/mini/exp/tiny/model
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from simvq_audio.codec import SimVQCodec
from simvq_audio.corpora.command import run_command
from simvq_audio.errors import UserInputError
from simvq_audio.study import sources
from simvq_audio.study.code_geometry import code_geometry


def load_codec(path: Path) -> SimVQCodec:
    """A training checkpoint folder (its EMA weights) or an exported model dir."""
    if (path / "ema_generator.safetensors").is_file():
        return SimVQCodec.from_checkpoint(path)
    if (path / "model.safetensors").is_file():
        return SimVQCodec.from_pretrained(path)
    raise UserInputError(f"{path} is neither a training checkpoint (ema_generator.safetensors) "
                         f"nor a model dir (model.safetensors)")


def _spread(values: list[float]) -> str:
    return f"{max(values):.3f} .. {min(values):.3f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tools/code_geometry.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("models", type=Path, nargs="+",
                        help="training checkpoint folders or exported model dirs")
    parser.add_argument("--data-dir", type=Path, required=True,
                        help="Kaldi data dir of the audio to encode (e.g. the test set)")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    waveforms = sources.read_waveforms(args.data_dir, None, seed=0)
    rows = {}
    print("| model | frames | codes used | used if W, b fitted | latent spread | code spread "
          "| W singular values |\n|---|---:|---:|---:|---|---|---|")
    for path in args.models:
        rows[str(path)] = measured = code_geometry(load_codec(path).model, waveforms)
        print(f"| {path} | {measured['frames']} | {measured['used_codes']} | "
              f"{measured['used_codes_if_fitted']} | {_spread(measured['latent_spread'])} | "
              f"{_spread(measured['code_spread'])} | "
              f"{_spread(measured['w_singular_values'])} |", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    run_command("code_geometry", main)
