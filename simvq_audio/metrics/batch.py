"""Scoring many (reference, hypothesis) files, in parallel processes, with a progress bar."""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from simvq_audio.data.audio_io import read_audio
from simvq_audio.errors import UserInputError
from simvq_audio.metrics.scorers import LoadedScorers, ScorerOptions, load_scorers
from simvq_audio.metrics.utterance import ALL, score_pair


@dataclass(frozen=True)
class ScoreJob:
    """One utterance to score: its id, both files, its transcript (or ``None``) and language."""

    utt_id: str
    ref_path: Path
    hyp_path: Path
    text: str | None = None
    language: str = "en"


def score_file_pair(job: ScoreJob, scorers: LoadedScorers | None = None) -> dict:
    """One CSV row: ``utt_id``, ``ref_seconds``, ``hyp_seconds``, every metric value (and the
    scorers' details) and ``skipped`` (metric -> reason). The hypothesis is resampled to the
    reference's rate; an unreadable, empty or non-finite file skips the utterance with the
    reason."""
    row: dict = {"utt_id": job.utt_id, "ref_seconds": None, "hyp_seconds": None}
    try:
        ref, rate = read_audio(job.ref_path)
        hyp, _ = read_audio(job.hyp_path, sample_rate=rate)
    except UserInputError as error:
        row["skipped"] = {ALL: str(error)}
        return row
    row["ref_seconds"], row["hyp_seconds"] = ref.shape[-1] / rate, hyp.shape[-1] / rate
    scores = score_pair(ref[0].numpy(), hyp[0].numpy(), rate, scorers=scorers, text=job.text,
                        language=job.language)
    row.update(scores.values)
    row["skipped"] = scores.skipped
    return row


def score_files(jobs: list[ScoreJob], processes: int = 1, scorers: LoadedScorers | None = None,
                progress: bool = True) -> list[dict]:
    """Rows of :func:`score_file_pair` for ``jobs``, sorted by id. ``processes > 1`` uses that
    many worker processes (spawned, one torch thread each), each loading the same scorers as
    ``scorers`` for itself."""
    bar = tqdm(total=len(jobs), desc="scoring", unit="utt", disable=not progress)
    rows = []
    if processes <= 1:
        for job in jobs:
            rows.append(score_file_pair(job, scorers))
            bar.update()
    else:
        names, options = (scorers.names, scorers.options) if scorers else ([], None)
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes, initializer=_start_worker, initargs=(names, options)) as pool:
            for row in pool.imap_unordered(_score_in_worker, jobs):
                rows.append(row)
                bar.update()
    bar.close()
    return sorted(rows, key=lambda row: row["utt_id"])


_worker_scorers: list[LoadedScorers] = []    # this worker's, once loaded


def _start_worker(names: list[str], options: ScorerOptions | None) -> None:
    """One torch thread, and this process's own copy of the scorers."""
    import torch

    torch.set_num_threads(1)
    if options is not None:
        _worker_scorers.append(load_scorers(names, options))


def _score_in_worker(job: ScoreJob) -> dict:
    return score_file_pair(job, _worker_scorers[0] if _worker_scorers else None)
