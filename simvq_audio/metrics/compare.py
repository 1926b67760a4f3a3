"""Several systems' summaries side by side in one markdown table, the way codec papers read: one
row per system, one column per metric (every metric any summary has, in order of appearance), the
bitrate and codebook utilisation last, and a ``reference`` row with the reference audio's own
scores (``ref_*`` metrics such as UTMOS or DNSMOS of the ground truth) when the summaries have
them (:func:`compare_table`); :func:`compare_runs` is ``simvq-audio compare``: the table of
several ``score`` folders, and their listening page side by side."""

from __future__ import annotations

import os

from simvq_audio.atomic import write_bytes
from simvq_audio.errors import UserInputError
from simvq_audio.metrics.report_html import write_comparison
from simvq_audio.metrics.score_dirs import read_score_dir, read_summary
from simvq_audio.metrics.summary import format_value, summary_columns

REFERENCE_PREFIX = "ref_"   # a metric of the reference audio, e.g. ref_utmos beside utmos
MISSING = "—"


def _metric_cell(summary: dict, name: str) -> str:
    entry = summary["metrics"].get(name)
    if entry is None:
        return MISSING
    return format_value(entry.get("mean"), entry.get("ci95"), digits=2)


def _codebook_cells(summary: dict) -> list[str]:
    codebook = summary.get("codebook")
    if not codebook:
        return ["n/a", "n/a"]
    return [format_value(codebook["bitrate_bps"] / 1000, digits=2),
            f"{100 * codebook['utilisation']:.1f} %"]


def compare_table(summaries: list[dict], names: list[str]) -> str:
    """Markdown table with one row per system: ``names[i]`` and ``summaries[i]`` (dicts from
    :func:`simvq_audio.metrics.summary.summarise`, optionally with ``codebook``), then the
    reference row when any summary scored the reference audio."""
    columns = [column for column in summary_columns(summaries)
               if not column.name.startswith(REFERENCE_PREFIX)]
    header = ["System", *(column.heading for column in columns), "kbps", "Util. ↑", "N"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, summary in zip(names, summaries):
        cells = [name, *(_metric_cell(summary, column.name) for column in columns),
                 *_codebook_cells(summary), str(summary["num_utterances"])]
        lines.append("| " + " | ".join(cells) + " |")
    reference = next((summary for summary in summaries
                      if any(name.startswith(REFERENCE_PREFIX) for name in summary["metrics"])),
                     None)
    if reference is not None:
        cells = ["reference", *(_metric_cell(reference, REFERENCE_PREFIX + column.name)
                                for column in columns), MISSING, MISSING,
                 str(reference["num_utterances"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def compare_runs(summary_paths: list[str], names: list[str] | None = None,
                 html: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                 max_spectrograms: int = 50) -> str:
    """The :func:`compare_table` of the ``summary.json`` files ``summary_paths`` written by
    ``score``, each system named ``names[i]`` (default: the name in its summary, else its
    path); also written to the markdown file ``out`` and, with ``html``, the listening page of
    all systems (players side by side, at most ``max_spectrograms`` spectrograms per system).

    Raises:
        UserInputError: ``names`` does not name each summary, or a summary (or, for ``html``,
            its folder's ``scores.csv`` and audio) cannot be read.
    """
    if names and len(names) != len(summary_paths):
        raise UserInputError(f"--names has {len(names)} name(s) for {len(summary_paths)} "
                             f"summaries")
    summaries = [read_summary(path) for path in summary_paths]
    names = names or [summary.get("name") or path
                      for summary, path in zip(summaries, summary_paths)]
    table = compare_table(summaries, names)
    if html:
        systems = [(name, *read_score_dir(path)[1:]) for name, path in zip(names, summary_paths)]
        write_comparison(html, systems, max_spectrograms=max_spectrograms)
    if out:
        write_bytes(out, table.encode("utf-8"))
    return table
