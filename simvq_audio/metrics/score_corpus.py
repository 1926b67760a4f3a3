"""Scoring a corpus of reference/reconstruction pairs into a report folder, as codec papers judge
a codec (the work of ``simvq-audio score``; :func:`score_corpus`).

The references and reconstructions are what :func:`~simvq_audio.data.utterances.list_utterances`
lists (as for encode and tokenize): directories of audio files (matched by relative path without
extension), Kaldi data dirs, ``wav.scp`` files, or single files. A reference data dir's ``text``
is the transcript ASR metrics score against, its ``utt2lang`` the language of each utterance
(else :attr:`ScorerOptions.language <simvq_audio.metrics.scorers.ScorerOptions.language>`).

Signal metrics (PESQ, STOI, ESTOI, V/UV F1, SI-SDR, mel distance) always run; model metrics
(:mod:`simvq_audio.metrics.scorers`: DNSMOS, speaker similarity, ASR WER/CER, UTMOS) run when their
package and weights are here, and the summary names each one that did not, with the reason.

Writes into the output folder: ``scores.csv`` (one row per utterance), ``summary.json``,
``summary.md`` (mean ± 95 % CI, counts, skip reasons), ``report.html`` (the listening page),
``spectrograms.png`` and, with token codes, ``code_usage.png``; with training logs,
``training_curves.png``. ``summary.json`` records the inputs; output policy
(:mod:`simvq_audio.outputs`): a report of the same inputs is replaced, any other of these files is
refused unless ``overwrite``.

Under ``accelerate launch`` (or any launcher setting ``RANK`` and ``WORLD_SIZE``) each process
scores every WORLD_SIZE-th utterance and writes ``shards/rank-R-of-N.json``; the last to finish
writes the report, the same as one process would.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Collection, Sequence
from pathlib import Path

from simvq_audio.atomic import atomic_path, write_bytes
from simvq_audio.data.audio_io import read_audio
from simvq_audio.data.kaldi_dir import Utterance
from simvq_audio.data.utterances import list_utterances
from simvq_audio.errors import UserInputError
from simvq_audio.metrics import numba_cache, plots
from simvq_audio.metrics.asr import TranscriptScorer, corpus_error_rates
from simvq_audio.metrics.batch import ScoreJob, score_files
from simvq_audio.metrics.codebook import codebook_report, count_tokens
from simvq_audio.metrics.inputs import pair_up, require_same_ids
from simvq_audio.metrics.report_html import write_report
from simvq_audio.metrics.scorers import LoadedScorers, ScorerOptions, load_scorers
from simvq_audio.metrics.summary import markdown_summary, summarise
from simvq_audio.metrics.token_sets import read_token_dir
from simvq_audio.metrics.utterance import ALL, METRICS
from simvq_audio.outputs import check_report_folder
from simvq_audio.quantize.stats import CodeUsage

OUTPUTS = ("scores.csv", "summary.json", "summary.md", "report.html", "spectrograms.png",
           "code_usage.png", "training_curves.png")
SHARDS = "shards"     # per-process rows under accelerate launch


def score_corpus(ref: str | os.PathLike, hyp: str | os.PathLike, out: str | os.PathLike, *,
                 options: ScorerOptions, model_metrics: Sequence[str] = (),
                 required: Collection[str] = (), codes: str | os.PathLike | None = None,
                 num_codes: int | None = None, tokens_per_second: float | None = None,
                 processes: int = 1, name: str | None = None, num_plots: int = 3,
                 train_logs: str | os.PathLike | None = None, report_spectrograms: int = 50,
                 overwrite: bool = False) -> str | None:
    """Score every utterance of ``hyp`` against the one of the same id in ``ref`` and write the
    report files (:data:`OUTPUTS`) into the folder ``out``.

    Args:
        ref: reference audio: a directory, a Kaldi data dir, a ``wav.scp`` or one file.
        hyp: reconstructed audio, same forms as ``ref``, the same utterance ids.
        out: the report folder (made if missing).
        options: how to load the model metrics; ``options.language`` is also the language of
            utterances without an ``utt2lang`` entry.
        model_metrics: the model metrics to load, keys of
            :data:`~simvq_audio.metrics.scorers.SCORERS` in that order (empty: signal metrics
            only); one that cannot run here is left out, and the summary names it with the
            reason.
        required: names of ``model_metrics`` that must run: one that cannot is an error.
        codes: folder of the tokens, one ``.codes`` (or ``.npy``) file per utterance: adds
            codebook utilisation, perplexity, entropy and bitrate to the summary.
        num_codes: codebook size, for ``.npy`` tokens (``.codes`` files record it).
        tokens_per_second: token frame rate (Hz), for ``.npy`` tokens.
        processes: worker processes that score (each loads the model metrics itself).
        name: the system's name in ``summary.json`` (``None``: the name of ``out``).
        num_plots: utterances shown in ``spectrograms.png`` (0: no spectrogram plot).
        train_logs: TensorBoard log folder: also plot its codebook/utilisation and
            codebook/perplexity curves into ``training_curves.png``.
        report_spectrograms: utterances shown with spectrograms in ``report.html``, worst first.
        overwrite: replace report files in ``out`` that were not scored from the same ``ref``,
            ``hyp`` and ``codes`` (an input is never overwritten).

    Returns:
        The summary in Markdown (``summary.md``), or ``None`` where this process scored its share
        under ``RANK``/``WORLD_SIZE`` and another process finishes the report.

    Raises:
        UserInputError: unreadable or mismatched inputs, tokens without their codebook size or
            frame rate, report files of other inputs (without ``overwrite``), a ``required``
            model metric that cannot run.
    """
    refs = list_utterances(ref, check_audio=True)
    jobs = _jobs(refs, list_utterances(hyp, check_audio=True), options.language)
    usage, codebook = (_codebook(codes, [job.utt_id for job in jobs], num_codes,
                                 tokens_per_second) if codes else (None, None))
    out = Path(out)
    inputs = {key: str(Path(value).absolute()) if value else None
              for key, value in (("ref", ref), ("hyp", hyp), ("codes", codes))}
    audio = [path for job in jobs for path in (job.ref_path, job.hyp_path)]
    check_report_folder(out, OUTPUTS, inputs, audio, overwrite)
    numba_cache.isolate()     # before the scorers import librosa (see metrics.numba_cache)
    scorers = load_scorers(list(model_metrics), options)
    missing = {key: reason for key, reason in scorers.unavailable.items() if key in required}
    if missing:
        raise UserInputError("--model-metrics: " + "; ".join(
            f"{key} cannot run: {reason}" for key, reason in missing.items()))
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    rows = score_files(jobs[rank::world_size], processes, scorers)
    if world_size > 1:
        rows = _gather_shards(out, rank, world_size, rows, inputs, [job.utt_id for job in jobs])
        if rows is None:
            return None

    if train_logs:
        plots.plot_training_curves(train_logs, out / "training_curves.png")
    summary = _summary(name or out.resolve().name, rows, scorers, codebook, inputs)
    _write_csv(rows, scorers, out / "scores.csv")
    write_bytes(out / "summary.json",
                (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    markdown = markdown_summary(summary)
    write_bytes(out / "summary.md", markdown.encode("utf-8"))
    pairs = [(job.utt_id, job.ref_path, job.hyp_path) for job in jobs]
    write_report(out / "report.html", summary, rows, pairs, max_spectrograms=report_spectrograms)
    _plot_examples(pairs, rows, num_plots, out / "spectrograms.png")
    if usage is not None:
        plots.plot_code_usage(usage.counts, out / "code_usage.png")
    return markdown


def _jobs(refs: list[Utterance], hyps: list[Utterance], language: str) -> list[ScoreJob]:
    """One :class:`~simvq_audio.metrics.batch.ScoreJob` per utterance, by id: the reference's
    transcript and language (``language`` where it has none)."""
    by_id = {utt.utt_id: utt for utt in refs}
    return [ScoreJob(utt_id, ref_path, hyp_path, by_id[utt_id].text,
                     by_id[utt_id].language or language)
            for utt_id, ref_path, hyp_path in pair_up(refs, hyps)]


def _summary(name: str, rows: list[dict], scorers: LoadedScorers, codebook: dict | None,
             inputs: dict) -> dict:
    """``summary.json``'s content: the system ``name``, the statistics of every metric (with the
    corpus-level error rates of the ASR scorers), the models, the unavailable scorers, the
    codebook report and the inputs."""
    summary = summarise(rows, [*METRICS, *scorers.columns])
    for scorer in scorers.scorers:
        if isinstance(scorer, TranscriptScorer):
            for metric, value in corpus_error_rates(rows, scorer.asr).items():
                summary["metrics"][metric]["corpus"] = value
    return {"name": name, **summary,
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
    write_bytes(shard, json.dumps({**identity, "rows": rows}, ensure_ascii=False).encode("utf-8"))
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


def _codebook(codes: str | os.PathLike, utt_ids: list[str], num_codes: int | None,
              tokens_per_second: float | None) -> tuple[CodeUsage, dict]:
    """``(CodeUsage, report dict)`` of the tokens in the folder ``codes``; their ids must be
    ``utt_ids``. ``num_codes`` and ``tokens_per_second`` (Hz) stand in where the files do not
    record them (``.npy``)."""
    token_set = read_token_dir(codes)
    require_same_ids(utt_ids, token_set.tokens.keys(), "audio", "--codes")
    num_codes = token_set.num_codes or num_codes
    tokens_per_second = token_set.tokens_per_second or tokens_per_second
    if num_codes is None or tokens_per_second is None:
        raise UserInputError("--codes holds .npy files, which do not say the codebook size and "
                             "frame rate: give --num-codes and --tokens-per-second")
    if num_codes < 2 or tokens_per_second <= 0:
        raise UserInputError(f"need --num-codes >= 2 and --tokens-per-second > 0, got "
                             f"{num_codes} and {tokens_per_second}")
    usage = count_tokens(token_set.tokens.values(), num_codes)
    return usage, codebook_report(usage, tokens_per_second)


def _write_csv(rows: list[dict], scorers: LoadedScorers, path: Path) -> None:
    """``scores.csv``: one row per utterance, the signal metrics, the scorers' columns and
    details, and ``skipped`` as ``metric: reason; metric: reason``."""
    columns = ["utt_id", "ref_seconds", "hyp_seconds", *(metric.name for metric in METRICS),
               *(column.name for column in scorers.columns), *scorers.details, "skipped"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in rows:
            skipped = "; ".join(f"{metric}: {reason}" for metric, reason in row["skipped"].items())
            writer.writerow({**row, "skipped": skipped})


def _plot_examples(pairs: list[tuple[str, Path, Path]], rows: list[dict], count: int,
                   path: Path) -> None:
    """Spectrograms of the first ``count`` utterances that were scored."""
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
        plots.plot_spectrograms(examples, path)
