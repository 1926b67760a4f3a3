"""Scoring many (reference, hypothesis) files, in parallel processes, with a progress bar."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from tqdm import tqdm

from simvq_audio.data.audio_io import read_audio
from simvq_audio.errors import UserInputError
from simvq_audio.metrics.utterance import ALL, score_pair


def score_file_pair(utt_id: str, ref_path: Path, hyp_path: Path) -> dict:
    """One CSV row: ``utt_id``, ``ref_seconds``, ``hyp_seconds``, every metric value and
    ``skipped`` (metric -> reason). The hypothesis is resampled to the reference's rate; an
    unreadable, empty or non-finite file skips the utterance with the reason."""
    row: dict = {"utt_id": utt_id, "ref_seconds": None, "hyp_seconds": None}
    try:
        ref, rate = read_audio(ref_path)
        hyp, _ = read_audio(hyp_path, sample_rate=rate)
    except UserInputError as error:
        row["skipped"] = {ALL: str(error)}
        return row
    row["ref_seconds"], row["hyp_seconds"] = ref.shape[-1] / rate, hyp.shape[-1] / rate
    scores = score_pair(ref[0].numpy(), hyp[0].numpy(), rate)
    row.update(scores.values)
    row["skipped"] = scores.skipped
    return row


def score_files(pairs: list[tuple[str, Path, Path]], jobs: int = 1, progress: bool = True
                ) -> list[dict]:
    """Rows of :func:`score_file_pair` for ``pairs`` of ``(utt_id, ref_path, hyp_path)``,
    sorted by id. ``jobs > 1`` uses that many worker processes (spawned, one torch thread each).
    """
    bar = tqdm(total=len(pairs), desc="scoring", unit="utt", disable=not progress)
    rows = []
    if jobs <= 1:
        for pair in pairs:
            rows.append(score_file_pair(*pair))
            bar.update()
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(jobs, initializer=_one_thread) as pool:
            for row in pool.imap_unordered(_score_packed, pairs):
                rows.append(row)
                bar.update()
    bar.close()
    return sorted(rows, key=lambda row: row["utt_id"])


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _score_packed(pair: tuple[str, Path, Path]) -> dict:
    return score_file_pair(*pair)
