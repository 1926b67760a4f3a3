"""Several systems' summaries side by side in one markdown table, the way the paper reads."""

from __future__ import annotations

from simvq_audio.metrics.summary import format_value

# (column header, where the value lives in a summary); codebook entries have no interval.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("UTMOS ↑", "utmos"), ("PESQ-wb ↑", "pesq"), ("STOI ↑", "stoi"), ("ESTOI ↑", "estoi"),
    ("V/UV F1 ↑", "vuv_f1"), ("SI-SDR (dB) ↑", "si_sdr"), ("Mel dist. ↓", "mel_distance"),
    ("kbps", "bitrate"), ("Util. ↑", "utilisation"),
)


def _cell(summary: dict, key: str) -> str:
    codebook = summary.get("codebook") or {}
    if key == "bitrate":
        return format_value(codebook["bitrate_bps"] / 1000, digits=2) if codebook else "n/a"
    if key == "utilisation":
        return f"{100 * codebook['utilisation']:.1f} %" if codebook else "n/a"
    entry = summary.get("utmos", {}) if key == "utmos" else summary["metrics"].get(key, {})
    return format_value(entry.get("mean"), entry.get("ci95"), digits=2)


def compare_table(summaries: list[dict], names: list[str]) -> str:
    """Markdown table with one row per system: ``names[i]`` and ``summaries[i]`` (dicts from
    :func:`simvq_audio.metrics.summary.summarise`, optionally with ``codebook``/``utmos``)."""
    header = ["System", *(title for title, _ in COLUMNS), "N"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, summary in zip(names, summaries):
        cells = [name, *(_cell(summary, key) for _, key in COLUMNS),
                 str(summary["num_utterances"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
