"""``simvq-audio score --ref REF --hyp HYP --out DIR``: the paper's evaluation of a codec.

REF and HYP are what :func:`~simvq_audio.data.utterances.list_utterances` lists (as for encode and
tokenize): directories of audio files (matched by relative path without extension), Kaldi data dirs,
``wav.scp`` files, or single files. Writes into ``--out``: ``scores.csv`` (one row per utterance),
``summary.json``, ``summary.md`` (mean ± 95 % CI, counts, skip reasons), ``spectrograms.png`` and,
with ``--codes``, ``code_usage.png``; with ``--train-logs``, ``training_curves.png``.
``summary.json`` records the inputs; output policy (:mod:`simvq_audio.outputs`): a report of the
same inputs is replaced, any other of these files is refused unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

NAME = "score"
HELP = "score reconstructions against references (PESQ, STOI, V/UV F1, ..., code utilisation)"
OUTPUTS = ("scores.csv", "summary.json", "summary.md", "spectrograms.png", "code_usage.png",
           "training_curves.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", required=True, help="reference audio: a directory, a Kaldi data "
                        "dir, a wav.scp or one file")
    parser.add_argument("--hyp", required=True, help="reconstructed audio, same forms as --ref")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--codes", help="directory of the tokens, one .codes (or .npy) file per "
                        "utterance: adds codebook utilisation, perplexity, entropy and bitrate")
    parser.add_argument("--num-codes", type=int, help="codebook size (needed for .npy tokens)")
    parser.add_argument("--tokens-per-second", type=float,
                        help="token frame rate (needed for .npy tokens), e.g. 75")
    parser.add_argument("--nj", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--name", help="system name in summary.json (default: the --out folder)")
    parser.add_argument("--num-plots", type=int, default=3,
                        help="utterances shown in spectrograms.png (0: no spectrogram plot)")
    parser.add_argument("--train-logs", help="TensorBoard log directory: also plot the "
                        "codebook/utilisation and codebook/perplexity curves")
    parser.add_argument("--utmos-checkpoint", help="local UTMOS checkpoint (not implemented yet)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace report files in --out that were not scored from the same "
                        "--ref, --hyp and --codes (an input is never overwritten)")


def run(args: argparse.Namespace) -> int:
    from simvq_audio.data.utterances import list_utterances
    from simvq_audio.errors import UserInputError
    from simvq_audio.metrics import plots
    from simvq_audio.metrics.batch import score_files
    from simvq_audio.metrics.inputs import pair_up
    from simvq_audio.metrics.summary import markdown_summary, summarise
    from simvq_audio.metrics.utmos import utmos_status

    if args.nj < 1:
        raise UserInputError(f"--nj must be at least 1, got {args.nj}")
    try:
        utmos = utmos_status(args.utmos_checkpoint)
    except NotImplementedError as error:
        raise UserInputError(f"--utmos-checkpoint: {error}") from None
    pairs = pair_up(list_utterances(args.ref, check_audio=True),
                    list_utterances(args.hyp, check_audio=True))
    usage, codebook = (_codebook(args, [utt_id for utt_id, _, _ in pairs]) if args.codes
                       else (None, None))
    out = Path(args.out)
    inputs = {name: str(Path(value).absolute()) if value else None
              for name, value in (("ref", args.ref), ("hyp", args.hyp), ("codes", args.codes))}
    _check_outputs(out, inputs, [path for _, ref, hyp in pairs for path in (ref, hyp)],
                   args.overwrite)

    if args.train_logs:
        plots.plot_training_curves(args.train_logs, out / "training_curves.png")
    rows = score_files(pairs, jobs=args.nj)
    summary = {"name": args.name or out.resolve().name, **summarise(rows),
               "codebook": codebook, "utmos": utmos, "inputs": inputs}
    _write_csv(rows, out / "scores.csv")
    _write_text(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    markdown = markdown_summary(summary)
    _write_text(out / "summary.md", markdown)
    _plot_examples(pairs, rows, args.num_plots, out / "spectrograms.png")
    if usage is not None:
        plots.plot_code_usage(usage.counts, out / "code_usage.png")
    print(markdown, end="")
    return 0


def _check_outputs(out: Path, inputs: dict, audio: list[Path], overwrite: bool) -> None:
    """The output policy: refuse a report of other inputs (unless ``overwrite``) or an input
    among the outputs."""
    from simvq_audio.outputs import check_not_inputs, files_state, refuse_foreign

    if out.exists() and not out.is_dir():
        from simvq_audio.errors import UserInputError

        raise UserInputError(f"--out {out} exists and is not a directory")
    files = [out / name for name in OUTPUTS]
    check_not_inputs(files, audio)
    try:
        ours = json.loads((out / "summary.json").read_text(encoding="utf-8"))["inputs"] == inputs
    except (OSError, ValueError, TypeError, KeyError):
        ours = False
    refuse_foreign([(out, files_state(files, ours))], overwrite)


def _codebook(args: argparse.Namespace, utt_ids: list[str]):
    """``(CodeUsage, report dict)`` of the tokens in ``--codes``; their ids must be ``utt_ids``."""
    from simvq_audio.errors import UserInputError
    from simvq_audio.metrics.codebook import codebook_report, count_tokens
    from simvq_audio.metrics.inputs import require_same_ids
    from simvq_audio.metrics.token_sets import read_token_dir

    token_set = read_token_dir(args.codes)
    require_same_ids(utt_ids, token_set.tokens.keys(), "audio", "--codes")
    num_codes = token_set.num_codes or args.num_codes
    tokens_per_second = token_set.tokens_per_second or args.tokens_per_second
    if num_codes is None or tokens_per_second is None:
        raise UserInputError("--codes holds .npy files, which do not say the codebook size and "
                             "frame rate: give --num-codes and --tokens-per-second")
    if num_codes < 2 or tokens_per_second <= 0:
        raise UserInputError(f"need --num-codes >= 2 and --tokens-per-second > 0, got "
                             f"{num_codes} and {tokens_per_second}")
    usage = count_tokens(token_set.tokens.values(), num_codes)
    return usage, codebook_report(usage, tokens_per_second)


def _write_csv(rows: list[dict], path: Path) -> None:
    from simvq_audio.atomic import atomic_path
    from simvq_audio.metrics.utterance import METRICS

    columns = ["utt_id", "ref_seconds", "hyp_seconds", *(metric.name for metric in METRICS),
               "skipped"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in rows:
            skipped = "; ".join(f"{metric}: {reason}" for metric, reason in row["skipped"].items())
            writer.writerow({**row, "skipped": skipped})


def _write_text(path: Path, text: str) -> None:
    from simvq_audio.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _plot_examples(pairs, rows: list[dict], count: int, path: Path) -> None:
    """Spectrograms of the first ``count`` utterances that were scored."""
    from simvq_audio.data.audio_io import read_audio
    from simvq_audio.metrics.plots import plot_spectrograms
    from simvq_audio.metrics.utterance import ALL

    scored = {row["utt_id"] for row in rows if ALL not in row["skipped"]}
    examples = []
    for utt_id, ref_path, hyp_path in pairs:
        if len(examples) == count:
            break
        if utt_id in scored:
            ref, rate = read_audio(ref_path)
            hyp, _ = read_audio(hyp_path, sample_rate=rate)
            examples.append((utt_id, ref[0].numpy(), hyp[0].numpy(), rate))
    if examples:
        plot_spectrograms(examples, path)
