#!/usr/bin/env python
"""Codebook-collapse study: VanillaVQ vs SimVQ over codebook sizes, plus SimVQ ablations.

Trains the same small log-mel autoencoder once per quantizer and codebook size (same seed, data,
steps, optimiser, batch) and writes ``results.json``, ``results.md``, ``utilisation_vs_k.png``
and ``rank_vs_step.png`` into ``--out``. See docs/collapse_study.md.

    .venv/bin/python tools/collapse_study.py --out exp/collapse            # real speech
    .venv/bin/python tools/collapse_study.py --out exp/collapse_espeak --corpus espeak
    .venv/bin/python tools/collapse_study.py --out exp/c262k --ks 1024 8192 65536 262144
    .venv/bin/python tools/collapse_study.py --out exp/mine \\
        --data-dir data/train --heldout-dir data/dev

``--codec-ablation`` runs the codec-level ablation instead: the mini recipe's tiny codec
(recipes/tiny.yaml) trained through the project's trainer with and without each of its options
against collapse, measured on held-out audio (simvq_audio/study/codec_ablation.py); it writes
``codec_ablation.json`` and ``codec_ablation.md`` (and each variant's run) into ``--out``:

    .venv/bin/python tools/collapse_study.py --codec-ablation --out exp/codec_ablation --threads 2
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import torch

from simvq_audio.corpora.command import run_command
from simvq_audio.errors import UserInputError
from simvq_audio.study import codec_ablation
from simvq_audio.study.collapse import DEFAULT_ABLATION_K, DEFAULT_KS, run_study
from simvq_audio.study.data import CORPORA, DataOptions
from simvq_audio.study.runs import TrainConfig

DEFAULTS = TrainConfig()
HELDOUT_PER_CODE = 16
"""Default held-out windows per code of the largest K (docs/collapse_study.md, Held-out size)."""
TINY_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tools/collapse_study.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for results and plots")
    parser.add_argument("--ks", type=int, nargs="+", default=list(DEFAULT_KS),
                        help="codebook sizes of the sweep (default: %(default)s)")
    parser.add_argument("--ablation-k", type=int, default=DEFAULT_ABLATION_K,
                        help="codebook size of the SimVQ ablations (default: %(default)s)")
    codec = parser.add_argument_group(
        "codec ablation (the data options that apply: --data-dir, --heldout-dir, "
        "--corpus-cache, --archive-dir; and --steps, --threads)")
    codec.add_argument("--codec-ablation", action="store_true",
                       help="train the tiny codec once per variant of its options against "
                            "collapse instead of the autoencoder study")
    codec.add_argument("--config", type=Path, default=TINY_RECIPE,
                       help="the codec config the variants change (default: recipes/tiny.yaml)")
    codec.add_argument("--variants", nargs="+",
                       choices=[variant.name for variant in codec_ablation.VARIANTS],
                       help="only these variants (default: all)")
    data = parser.add_argument_group("data (default: the real-speech mini corpus of egs/mini)")
    data.add_argument("--data-dir", type=Path, help="Kaldi data dir to train on")
    data.add_argument("--heldout-dir", type=Path, help="Kaldi data dir to measure on")
    data.add_argument("--corpus", choices=CORPORA, default=DataOptions.corpus,
                      help="without data dirs: debian (real speech from Debian's archive, "
                           "fetched once), espeak (synthetic speakers, needs espeak-ng) or "
                           "synthetic (a speech-like signal, for smoke tests); default: "
                           "%(default)s")
    data.add_argument("--corpus-cache", type=Path,
                      help="where the mini corpus is built (default: OUT/corpus)")
    data.add_argument("--archive-dir", type=Path,
                      help="debian: cache of the archive's index and packages, e.g. a recipe's "
                           "db/debian (default: CORPUS_CACHE/debian)")
    data.add_argument("--train-minutes", type=float, default=DataOptions.train_minutes,
                      help="debian: minutes of training speech (default: %(default)s)")
    data.add_argument("--dev-utts-per-voice", type=int, default=DataOptions.dev_utts_per_voice,
                      help="debian: held-out prompts of each training voice (default: "
                           "%(default)s, ~30 min)")
    data.add_argument("--utts-per-speaker", type=int, default=DataOptions.utts_per_speaker,
                      help="espeak: utterances per synthetic speaker")
    data.add_argument("--heldout-vectors", type=int,
                      help=f"held-out windows (default: {HELDOUT_PER_CODE} x the largest K)")
    data.add_argument("--train-seconds", type=float, default=DataOptions.train_seconds,
                      help="cap on training audio (default: %(default)s)")
    train = parser.add_argument_group("training (shared by every run)")
    train.add_argument("--dim", type=int, default=DEFAULTS.dim, help="code dimension")
    train.add_argument("--hidden", type=int, default=DEFAULTS.hidden)
    train.add_argument("--steps", type=int,
                       help=f"training steps (default: {DEFAULTS.steps}; with "
                            f"--codec-ablation {codec_ablation.DEFAULT_STEPS}, the mini recipe's)")
    train.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    train.add_argument("--lr", type=float, default=DEFAULTS.lr)
    train.add_argument("--beta", type=float, default=DEFAULTS.beta)
    train.add_argument("--seed", type=int, default=DEFAULTS.seed)
    train.add_argument("--rank-every", type=int, default=DEFAULTS.rank_every,
                       help="steps between effective-rank samples")
    train.add_argument("--vanilla-init", choices=("uniform", "normal"), default="uniform",
                       help="VanillaVQ codebook init (default: %(default)s, the VQGAN init)")
    train.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.steps is None:
        args.steps = codec_ablation.DEFAULT_STEPS if args.codec_ablation else DEFAULTS.steps
    positive = {"--steps": args.steps, "--batch-size": args.batch_size, "--dim": args.dim,
                "--hidden": args.hidden, "--rank-every": args.rank_every,
                "--utts-per-speaker": args.utts_per_speaker,
                "--dev-utts-per-voice": args.dev_utts_per_voice}
    for flag, value in positive.items():
        if value < 1:
            raise UserInputError(f"{flag} must be a positive integer, got {value}")
    if args.threads:
        torch.set_num_threads(args.threads)
    command = shlex.join(["tools/collapse_study.py", *argv])
    if args.codec_ablation:
        return run_codec_ablation(args, command)
    ks = list(dict.fromkeys(args.ks))
    data = DataOptions(data_dir=args.data_dir, heldout_dir=args.heldout_dir,
                       corpus=args.corpus, corpus_cache=args.corpus_cache or args.out / "corpus",
                       archive_dir=args.archive_dir, train_minutes=args.train_minutes,
                       dev_utts_per_voice=args.dev_utts_per_voice,
                       utts_per_speaker=args.utts_per_speaker,
                       heldout_vectors=args.heldout_vectors
                       or HELDOUT_PER_CODE * max(ks + [args.ablation_k]),
                       train_seconds=args.train_seconds, seed=args.seed)
    config = TrainConfig(dim=args.dim, hidden=args.hidden, steps=args.steps,
                         batch_size=args.batch_size, lr=args.lr, beta=args.beta,
                         seed=args.seed, rank_every=args.rank_every)
    run_study(args.out, data, config, ks, args.ablation_k, args.vanilla_init, command)
    return 0


def run_codec_ablation(args: argparse.Namespace, command: str) -> int:
    """``--codec-ablation``: on the data dirs when given, else on egs/mini's corpus."""
    if (args.data_dir is None) != (args.heldout_dir is None):
        raise UserInputError("give both --data-dir and --heldout-dir, or neither (then the mini "
                             "recipe's corpus is used)")
    if args.data_dir is not None:
        dirs, source = {"train": args.data_dir, "heldout": args.heldout_dir}, "data dirs"
    else:
        dirs = codec_ablation.mini_corpus_dirs(args.corpus_cache or args.out / "corpus",
                                               args.archive_dir)
        source = ("real speech, egs/mini's Debian archive corpus: train split; held-out = test "
                  "split (12 held-out prompts of each training voice + 2 unseen speakers)")
    codec_ablation.run_codec_ablation(args.out, args.config, dirs["train"], dirs["heldout"],
                                      args.steps,
                                      codec_ablation.select_variants(args.variants),
                                      command, source)
    return 0


if __name__ == "__main__":
    run_command("collapse_study", main)
