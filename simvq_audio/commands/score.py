"""``simvq-audio score --ref REF --hyp HYP --out DIR``: judge a codec the way codec papers do.

REF and HYP are what :func:`~simvq_audio.data.utterances.list_utterances` lists (as for encode and
tokenize): directories of audio files (matched by relative path without extension), Kaldi data dirs,
``wav.scp`` files, or single files. A REF data dir's ``text`` is the transcript ASR metrics score
against, its ``utt2lang`` the language of each utterance (else ``--language``).

Signal metrics (PESQ, STOI, ESTOI, V/UV F1, SI-SDR, mel distance) always run; model metrics
(:mod:`simvq_audio.metrics.scorers`: DNSMOS, speaker similarity, ASR WER/CER, UTMOS) run when their
package and weights are here, and the summary names each one that did not, with the reason.

Writes into ``--out``: ``scores.csv`` (one row per utterance), ``summary.json``, ``summary.md``
(mean ± 95 % CI, counts, skip reasons), ``report.html`` (the listening page), ``spectrograms.png``
and, with ``--codes``, ``code_usage.png``; with ``--train-logs``, ``training_curves.png``.
``summary.json`` records the inputs; output policy (:mod:`simvq_audio.outputs`): a report of the
same inputs is replaced, any other of these files is refused unless ``--overwrite``.

Under ``accelerate launch`` (or any launcher setting ``RANK`` and ``WORLD_SIZE``) each process
scores every WORLD_SIZE-th utterance and writes ``shards/rank-R-of-N.json``; the last to finish
writes the report, the same as one process would.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

from simvq_audio.atomic import atomic_path
from simvq_audio.commands.arg_types import non_negative_int, positive_float, positive_int
from simvq_audio.errors import UserInputError
from simvq_audio.metrics.scorers import SCORERS, ScorerOptions

NAME = "score"
HELP = ("score reconstructions against references (PESQ, STOI, V/UV F1, DNSMOS, speaker "
        "similarity, WER, UTMOS, ..., code utilisation)")
OUTPUTS = ("scores.csv", "summary.json", "summary.md", "report.html", "spectrograms.png",
           "code_usage.png", "training_curves.png")
SHARDS = "shards"     # per-process rows under accelerate launch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", required=True, help="reference audio: a directory, a Kaldi data "
                        "dir, a wav.scp or one file")
    parser.add_argument("--hyp", required=True, help="reconstructed audio, same forms as --ref")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--codes", help="directory of the tokens, one .codes (or .npy) file per "
                        "utterance: adds codebook utilisation, perplexity, entropy and bitrate")
    parser.add_argument("--num-codes", type=positive_int,
                        help="codebook size (needed for .npy tokens)")
    parser.add_argument("--tokens-per-second", type=positive_float,
                        help="token frame rate (needed for .npy tokens), e.g. 75")
    parser.add_argument("--nj", type=positive_int, default=1, help="parallel worker processes")
    parser.add_argument("--name", help="system name in summary.json (default: the --out folder)")
    parser.add_argument("--num-plots", type=non_negative_int, default=3,
                        help="utterances shown in spectrograms.png (0: no spectrogram plot)")
    parser.add_argument("--train-logs", help="TensorBoard log directory: also plot the "
                        "codebook/utilisation and codebook/perplexity curves")
    parser.add_argument("--model-metrics", default="auto",
                        help="comma-separated model metrics to run, of " + ", ".join(SCORERS)
                        + "; 'auto' (default): every one whose package and weights are here "
                        "(the others are named in the summary); 'none': signal metrics only")
    parser.add_argument("--language", default="en",
                        help="language (ISO 639-1) of utterances without an utt2lang entry [en]")
    parser.add_argument("--utmos-checkpoint", help="UTMOS22 strong weights (.pt state dict); "
                        "default: utmos22_strong_step7459_v1.pt in the torch hub cache "
                        "($TORCH_HOME/hub/checkpoints), fetched there by --allow-download; "
                        "without weights 'auto' skips UTMOS and the summary says where to put "
                        "them")
    parser.add_argument("--whisper-model", help="Whisper model name (in ~/.cache/whisper) or .pt "
                        "path [large-v3]")
    parser.add_argument("--wavlm-model", help="WavLM speaker-verification model: local directory "
                        "or Hugging Face id (from the cache) [microsoft/wavlm-base-plus-sv]")
    parser.add_argument("--allow-download", action="store_true",
                        help="download missing Whisper/WavLM/UTMOS weights (never by default)")
    parser.add_argument("--reference-cache", help="folder keeping model-metric values of the "
                        "references across runs (DNSMOS/UTMOS of the reference, its ASR "
                        "transcript; keyed by the samples and the model) [~/.cache/simvq-audio/"
                        "reference-scores]")
    parser.add_argument("--no-reference-cache", action="store_true",
                        help="compute the references' values every time, keep nothing")
    parser.add_argument("--report-spectrograms", type=non_negative_int, default=50,
                        help="utterances shown with spectrograms in report.html, worst first "
                        "(players are shown for all) [50]")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace report files in --out that were not scored from the same "
                        "--ref, --hyp and --codes (an input is never overwritten)")


def run(args: argparse.Namespace) -> int:
    # Imported here and in the helpers below, not at the top: they import torch (reference_cache
    # numpy), which `score --help` must not (1.5 s of start-up, docs/benchmarks.md).
    from simvq_audio.data.utterances import list_utterances
    from simvq_audio.metrics import numba_cache, plots
    from simvq_audio.metrics.batch import score_files
    from simvq_audio.metrics.report_html import write_report
    from simvq_audio.metrics.scorers import load_scorers
    from simvq_audio.metrics.summary import markdown_summary

    names, required = _model_metric_names(args.model_metrics)
    refs = list_utterances(args.ref, check_audio=True)
    jobs = _jobs(refs, list_utterances(args.hyp, check_audio=True), args.language)
    usage, codebook = (_codebook(args, [job.utt_id for job in jobs]) if args.codes
                       else (None, None))
    out = Path(args.out)
    inputs = {name: str(Path(value).absolute()) if value else None
              for name, value in (("ref", args.ref), ("hyp", args.hyp), ("codes", args.codes))}
    _check_outputs(out, inputs, [path for job in jobs for path in (job.ref_path, job.hyp_path)],
                   args.overwrite)
    numba_cache.isolate()     # before the scorers import librosa (see metrics.numba_cache)
    scorers = load_scorers(names, _scorer_options(args))
    missing = {name: reason for name, reason in scorers.unavailable.items() if name in required}
    if missing:
        raise UserInputError("--model-metrics: " + "; ".join(
            f"{name} cannot run: {reason}" for name, reason in missing.items()))
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    rows = score_files(jobs[rank::world_size], args.nj, scorers)
    if world_size > 1:
        rows = _gather_shards(out, rank, world_size, rows, inputs, [job.utt_id for job in jobs])
        if rows is None:
            return 0

    if args.train_logs:
        plots.plot_training_curves(args.train_logs, out / "training_curves.png")
    summary = _summary(args, out, rows, scorers, codebook, inputs)
    _write_csv(rows, scorers, out / "scores.csv")
    _write_text(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    markdown = markdown_summary(summary)
    _write_text(out / "summary.md", markdown)
    pairs = [(job.utt_id, job.ref_path, job.hyp_path) for job in jobs]
    write_report(out / "report.html", summary, rows, pairs,
                 max_spectrograms=args.report_spectrograms)
    _plot_examples(pairs, rows, args.num_plots, out / "spectrograms.png")
    if usage is not None:
        plots.plot_code_usage(usage.counts, out / "code_usage.png")
    print(markdown, end="")
    return 0


def _model_metric_names(spec: str) -> tuple[list[str], set[str]]:
    """``(names to load, names the user asked for by name)`` from ``--model-metrics``: a
    scorer asked for by name that cannot run is an error; under ``auto`` it is reported."""
    if spec == "auto":
        return list(SCORERS), set()
    if spec == "none":
        return [], set()
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCORERS]
    if unknown or not names:
        raise UserInputError(f"--model-metrics: unknown {', '.join(unknown) or 'empty list'}; "
                             f"choose from auto, none, {', '.join(SCORERS)}")
    return [name for name in SCORERS if name in names], set(names)


def _scorer_options(args: argparse.Namespace) -> ScorerOptions:
    from simvq_audio.metrics.reference_cache import default_folder

    cache = None if args.no_reference_cache else str(args.reference_cache or default_folder())
    return ScorerOptions(utmos_checkpoint=args.utmos_checkpoint, whisper_model=args.whisper_model,
                         wavlm_model=args.wavlm_model, allow_download=args.allow_download,
                         language=args.language, reference_cache=cache)


def _jobs(refs, hyps, language: str):
    """One :class:`~simvq_audio.metrics.batch.ScoreJob` per utterance, by id: the reference's
    transcript and language (``language`` where it has none)."""
    from simvq_audio.metrics.batch import ScoreJob
    from simvq_audio.metrics.inputs import pair_up

    by_id = {utt.utt_id: utt for utt in refs}
    return [ScoreJob(utt_id, ref_path, hyp_path, by_id[utt_id].text,
                     by_id[utt_id].language or language)
            for utt_id, ref_path, hyp_path in pair_up(refs, hyps)]


def _summary(args, out: Path, rows: list[dict], scorers, codebook, inputs: dict) -> dict:
    from simvq_audio.metrics.asr import TranscriptScorer, corpus_error_rates
    from simvq_audio.metrics.summary import summarise
    from simvq_audio.metrics.utterance import METRICS

    summary = summarise(rows, [*METRICS, *scorers.columns])
    for scorer in scorers.scorers:
        if isinstance(scorer, TranscriptScorer):
            for name, value in corpus_error_rates(rows, scorer.asr).items():
                summary["metrics"][name]["corpus"] = value
    return {"name": args.name or out.resolve().name, **summary,
            "models": {scorer.name: scorer.description for scorer in scorers.scorers},
            "unavailable": scorers.unavailable, "codebook": codebook, "inputs": inputs}


def _gather_shards(out: Path, rank: int, world_size: int, rows: list[dict], inputs: dict,
                   utt_ids: list[str]) -> list[dict] | None:
    """Write this process's rows to ``out/shards/``; once every process's file is there (for
    these inputs and utterances), return all rows in id order, else ``None`` (another process
    finishes the report)."""
    identity = {"inputs": inputs, "utt_ids": utt_ids, "world_size": world_size}
    shard = out / SHARDS / f"rank-{rank:05d}-of-{world_size:05d}.json"
    shard.parent.mkdir(parents=True, exist_ok=True)
    _write_text(shard, json.dumps({**identity, "rows": rows}, ensure_ascii=False))
    gathered = []
    for other in range(world_size):
        path = out / SHARDS / f"rank-{other:05d}-of-{world_size:05d}.json"
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            content = None
        if not isinstance(content, dict) or \
                any(content.get(key) != value for key, value in identity.items()):
            print(f"simvq-audio score [rank {rank}/{world_size}]: scored {len(rows)} "
                  f"utterance(s); the last process to finish writes the report", flush=True)
            return None
        gathered += content["rows"]
    return sorted(gathered, key=lambda row: row["utt_id"])


def _check_outputs(out: Path, inputs: dict, audio: list[Path], overwrite: bool) -> None:
    """The output policy: refuse a report of other inputs (unless ``overwrite``) or an input
    among the outputs."""
    from simvq_audio.outputs import check_not_inputs, files_state, refuse_foreign

    if out.exists() and not out.is_dir():
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


def _write_csv(rows: list[dict], scorers, path: Path) -> None:
    from simvq_audio.metrics.utterance import METRICS

    columns = ["utt_id", "ref_seconds", "hyp_seconds", *(metric.name for metric in METRICS),
               *(column.name for column in scorers.columns), *scorers.details, "skipped"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in rows:
            skipped = "; ".join(f"{metric}: {reason}" for metric, reason in row["skipped"].items())
            writer.writerow({**row, "skipped": skipped})


def _write_text(path: Path, text: str) -> None:
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
