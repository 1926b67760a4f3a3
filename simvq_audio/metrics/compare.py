"""Several systems' summaries side by side in one markdown table, the way codec papers read: one
row per system, one column per metric (every metric any summary has, in order of appearance), the
bitrate and codebook utilisation last, and a ``reference`` row with the reference audio's own
scores (``ref_*`` metrics such as UTMOS or DNSMOS of the ground truth) when the summaries have
them."""

from __future__ import annotations

from simvq_audio.metrics.summary import format_value

REFERENCE_PREFIX = "ref_"   # a metric of the reference audio, e.g. ref_utmos beside utmos
MISSING = "—"


def metric_columns(summaries: list[dict]) -> list[tuple[str, str]]:
    """``(name, header)`` of every system-side metric of ``summaries``, in order of appearance;
    the header is the label with ↑ or ↓."""
    columns: dict[str, str] = {}
    for summary in summaries:
        for name, entry in summary["metrics"].items():
            if not name.startswith(REFERENCE_PREFIX) and name not in columns:
                columns[name] = f"{entry['label']} {'↑' if entry['higher_is_better'] else '↓'}"
    return list(columns.items())


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
    columns = metric_columns(summaries)
    header = ["System", *(title for _, title in columns), "kbps", "Util. ↑", "N"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, summary in zip(names, summaries):
        cells = [name, *(_metric_cell(summary, column) for column, _ in columns),
                 *_codebook_cells(summary), str(summary["num_utterances"])]
        lines.append("| " + " | ".join(cells) + " |")
    reference = next((summary for summary in summaries
                      if any(name.startswith(REFERENCE_PREFIX) for name in summary["metrics"])),
                     None)
    if reference is not None:
        cells = ["reference", *(_metric_cell(reference, REFERENCE_PREFIX + column)
                                for column, _ in columns), MISSING, MISSING,
                 str(reference["num_utterances"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
