"""Several systems' summaries side by side in one markdown table, the way codec papers read: one
row per system, one column per metric (every metric any summary has, in order of appearance), the
bitrate and codebook utilisation last, and a ``reference`` row with the reference audio's own
scores (``ref_*`` metrics such as UTMOS or DNSMOS of the ground truth) when the summaries have
them."""

from __future__ import annotations

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
