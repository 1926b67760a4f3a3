"""Scoring many (reference, hypothesis) files, in parallel processes, with a progress bar.

Every scoring process keeps its own numba cache (:mod:`simvq_audio.metrics.numba_cache`) and warms
the signal metrics up (:func:`warm_up`: pYIN's one-time compilation) before it takes an
utterance; the progress bar's clock starts at the first utterance scored, so its rate and time
estimate leave out the start-up (compiling, loading models in the workers).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from simvq_audio.data.audio_io import read_audio
from simvq_audio.errors import UserInputError
from simvq_audio.metrics import numba_cache
from simvq_audio.metrics.scorers import LoadedScorers, ScorerOptions, load_scorers
from simvq_audio.metrics.synthetic import speech_like
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


def warm_up() -> None:
    """Score one second of synthetic speech with the signal metrics, so the one-time work
    (numba compiling pYIN, or loading it from the cache) is done before the first utterance."""
    wav = speech_like(1.0, 16000, np.random.default_rng(0))
    score_pair(wav, 0.5 * wav, 16000)


def score_files(jobs: list[ScoreJob], processes: int = 1, scorers: LoadedScorers | None = None,
                progress: bool = True) -> list[dict]:
    """Rows of :func:`score_file_pair` for ``jobs``, sorted by id. ``processes > 1`` uses that
    many worker processes (spawned, one torch thread each), each loading the same scorers as
    ``scorers`` for itself. This process gets its own numba cache here unless it has one (give
    it one with :func:`~simvq_audio.metrics.numba_cache.isolate` before loading ``scorers``:
    DNSMOS imports librosa)."""
    run_folder = numba_cache.isolate()
    warm_up()
    numba_cache.publish()
    if processes <= 1:
        return _collect((score_file_pair(job, scorers) for job in jobs), len(jobs), progress)
    names, options = (scorers.names, scorers.options) if scorers else ([], None)
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_start_worker,
                      initargs=(names, options, run_folder)) as pool:
        return _collect(pool.imap_unordered(_score_in_worker, jobs), len(jobs), progress)


def _collect(rows: Iterator[dict], total: int, progress: bool) -> list[dict]:
    """``rows`` sorted by id, counted on a progress bar whose clock starts at the first row."""
    collected, bar = [], None
    for row in rows:
        collected.append(row)
        if bar is None:
            bar = tqdm(total=total, initial=1, desc="scoring", unit="utt", disable=not progress)
        else:
            bar.update()
    if bar is not None:
        bar.close()
    return sorted(collected, key=lambda row: row["utt_id"])


_worker_scorers: list[LoadedScorers] = []    # this worker's, once loaded


def _start_worker(names: list[str], options: ScorerOptions | None, run_folder: Path) -> None:
    """A private numba cache (before anything imports librosa), one torch thread, this
    process's own copy of the scorers, and the warm-up."""
    numba_cache.isolate_worker(run_folder)
    torch.set_num_threads(1)
    if options is not None:
        _worker_scorers.append(load_scorers(names, options))
    warm_up()


def _score_in_worker(job: ScoreJob) -> dict:
    return score_file_pair(job, _worker_scorers[0] if _worker_scorers else None)
