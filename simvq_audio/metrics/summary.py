"""From per-utterance rows to a system summary: mean, 95 % confidence interval, counts of
scored and skipped utterances with the reasons, and a markdown rendering of it."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from simvq_audio.metrics.scorers import Column
from simvq_audio.metrics.utterance import ALL, METRICS

# How to read each metric: its range and what codecs typically reach (rough figures from published
# codec tables on clean read speech: EnCodec, DAC, SpeechTokenizer, WavTokenizer, BigCodec, at
# 1-8 kbps). One entry per metric name, which also covers the names it starts ("dnsmos":
# "dnsmos_ovrl"); a reference column ("ref_...") reads as its metric. The direction comes from
# the column itself.
METRIC_NOTES: dict[str, str] = {
    "pesq": "1.0-4.64; neural codecs at 1-8 kbps about 2-4, below 2 is clearly degraded",
    "stoi": "0-1; codecs about 0.85-0.95",
    "estoi": "0-1, stricter than STOI; codecs about 0.75-0.9",
    "vuv_f1": "0-1, pYIN voicing of the decoded speech against the reference's; good codecs "
              "above 0.9",
    "si_sdr": "dB, 0 dB: residual as loud as the signal; waveform-matching codecs at high "
              "bitrates 0-10 dB. Meaningless for codecs that do not keep phase and time "
              "alignment: GAN-vocoder codecs routinely give negative SI-SDR (down to -40 dB) "
              "while sounding fine; read PESQ, STOI and the mel distance instead",
    "mel_distance": "0 for identical audio (L1 of natural-log mels); codecs about 0.5-1.5",
    "utmos": "1-5 predicted MOS; clean read speech about 4.0-4.4, codecs about 3-4 (compare "
             "with the reference's)",
    "dnsmos": "1-5 predicted MOS; clean speech about 3.3 (OVRL) to 4 (BAK); compare with the "
               "reference's",
    "spk_sim": "cosine similarity of speaker embeddings, -1 to 1; same speaker usually above "
               "0.75 (Resemblyzer) or 0.85 (WavLM); codecs about 0.8-0.95",
    "wer": "0 or more (can exceed 1); compare with the WER of the reference audio: a good codec "
            "adds under 1-2 points",
    "cer": "0 or more; compare with the CER of the reference audio",
}


def metric_note(name: str) -> str | None:
    """The :data:`METRIC_NOTES` entry of metric ``name`` (its own, else the longest one whose
    name it starts with ``_``; ``ref_`` names read as their metric), or ``None``."""
    name = name.removeprefix("ref_")
    keys = [key for key in METRIC_NOTES if name == key or name.startswith(key + "_")]
    return METRIC_NOTES[max(keys, key=len)] if keys else None


def mean_ci95(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and half-width of the 95 % confidence interval (Student t); ``None`` where there are
    too few values (no mean for 0 values, no interval for 1)."""
    if not values:
        return None, None
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, None
    # optional (the metrics extra); `compare` runs without it
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
    """The summary as markdown: a metric table, a note per metric (:data:`METRIC_NOTES`), the
    skip reasons, the models that ran and those that could not, and codebook figures."""
    lines = [f"Utterances: {summary['num_utterances']} "
             f"({summary['num_skipped_utterances']} skipped entirely)", "",
             "| Metric | Mean ± 95 % CI | Scored | Skipped |", "|---|---|---:|---:|"]
    for entry in summary["metrics"].values():
        arrow = "↑" if entry["higher_is_better"] else "↓"
        lines.append(f"| {entry['label']} {arrow} | {format_value(entry['mean'], entry['ci95'])} "
                     f"| {entry['count']} | {entry['skipped']} |")
    notes = {entry["label"]: metric_note(name) for name, entry in summary["metrics"].items()
             if not name.startswith("ref_") and metric_note(name)}
    if notes:
        lines += ["", "Reading the table (↑ higher is better, ↓ lower is better):"]
        lines += [f"- {label}: {note}" for label, note in notes.items()]
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
