"""From per-utterance rows to a system summary: mean, 95 % confidence interval, counts of
scored and skipped utterances with the reasons, and a markdown rendering of it."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from simvq_audio.metrics.scorers import Column
from simvq_audio.metrics.utterance import ALL, METRICS


def mean_ci95(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and half-width of the 95 % confidence interval (Student t); ``None`` where there are
    too few values (no mean for 0 values, no interval for 1)."""
    if not values:
        return None, None
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, None
    from scipy.stats import t

    half_width = t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values))
    return mean, float(half_width)


def summarise(rows: list[dict], metrics: tuple[Column, ...] | list[Column] = METRICS) -> dict:
    """JSON-ready summary of the rows of :func:`simvq_audio.metrics.batch.score_file_pair`.

    ``metrics`` are the columns to average (signal metrics and scorers' columns alike: anything
    with ``name``, ``label`` and ``higher_is_better``). ``metrics[name]`` holds ``label``,
    ``higher_is_better``, ``mean``, ``ci95``, ``count`` (utterances scored) and ``skipped``;
    ``skipped`` lists every ``{utt_id, metric, reason}`` and ``skip_reasons`` counts them per
    metric or scorer (``"all"``: the whole utterance).
    """
    skipped = [{"utt_id": row["utt_id"], "metric": metric, "reason": reason}
               for row in rows for metric, reason in row["skipped"].items()]
    summary = {"num_utterances": len(rows),
               "num_skipped_utterances": sum(ALL in row["skipped"] for row in rows),
               "metrics": {}, "skipped": skipped, "skip_reasons": {}}
    for metric in metrics:
        values = [row[metric.name] for row in rows if metric.name in row]
        mean, ci95 = mean_ci95(values)
        summary["metrics"][metric.name] = {
            "label": metric.label, "higher_is_better": metric.higher_is_better,
            "mean": mean, "ci95": ci95, "count": len(values), "skipped": len(rows) - len(values)}
    for entry in skipped:
        reasons = summary["skip_reasons"].setdefault(entry["metric"], Counter())
        reasons[entry["reason"]] += 1
    summary["skip_reasons"] = {metric: dict(reasons)
                               for metric, reasons in summary["skip_reasons"].items()}
    return summary


def summary_columns(summaries: list[dict]) -> list[Column]:
    """Every metric of ``summaries`` (``summary["metrics"]``), in order of first appearance."""
    columns: dict[str, Column] = {}
    for summary in summaries:
        for name, entry in summary["metrics"].items():
            columns.setdefault(name, Column(name, entry["label"], entry["higher_is_better"]))
    return list(columns.values())


def format_value(mean: float | None, ci95: float | None = None, digits: int = 3) -> str:
    """``"2.541 ± 0.032"``, ``"2.541"`` without an interval, ``"n/a"`` without a mean."""
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f}" + ("" if ci95 is None else f" ± {ci95:.{digits}f}")


def markdown_summary(summary: dict) -> str:
    """The summary as markdown: a metric table, the skip reasons, the models that ran and those
    that could not, and codebook figures."""
    lines = [f"Utterances: {summary['num_utterances']} "
             f"({summary['num_skipped_utterances']} skipped entirely)", "",
             "| Metric | Mean ± 95 % CI | Scored | Skipped |", "|---|---|---:|---:|"]
    for entry in summary["metrics"].values():
        arrow = "↑" if entry["higher_is_better"] else "↓"
        lines.append(f"| {entry['label']} {arrow} | {format_value(entry['mean'], entry['ci95'])} "
                     f"| {entry['count']} | {entry['skipped']} |")
    if summary["skip_reasons"]:
        lines += ["", "Skipped:"]
        lines += [f"- {metric}: {reason} ({count})"
                  for metric, reasons in summary["skip_reasons"].items()
                  for reason, count in reasons.items()]
    codebook = summary.get("codebook")
    if codebook:
        lines += ["", f"Codebook: {codebook['used_codes']} of {codebook['num_codes']} codes used "
                      f"(utilisation {100 * codebook['utilisation']:.1f} %), perplexity "
                      f"{codebook['perplexity']:.1f}, usage entropy {codebook['entropy_bits']:.2f} "
                      f"bits, bitrate {codebook['bitrate_bps'] / 1000:.3f} kbps "
                      f"({codebook['tokens_per_second']:g} tokens/s)"]
    corpus = [(entry["label"], entry["corpus"]) for entry in summary["metrics"].values()
              if entry.get("corpus") is not None]
    if corpus:
        lines += ["", "Corpus-level error rates (errors / reference length over all utterances, "
                      "as papers report them):"]
        lines += [f"- {label}: {value:.3f}" for label, value in corpus]
    if summary.get("models"):
        lines += ["", "Models:"]
        lines += [f"- {name}: {description}" for name, description in summary["models"].items()]
    if summary.get("unavailable"):
        lines += ["", "Not computed:"]
        lines += [f"- {name}: {reason}" for name, reason in summary["unavailable"].items()]
    return "\n".join(lines) + "\n"
