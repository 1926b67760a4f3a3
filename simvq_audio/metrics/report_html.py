"""``report.html``: a scoring run as one static page to read and listen to, offline.

The page holds the summary table (each metric's mean ± 95 % CI, utterances scored and skipped, the
skip reasons), the per-utterance table (one column per metric, sortable by clicking a header, worst
first to begin with) and, for each utterance, the reference and decoded audio players with their
log spectrograms side by side. :func:`write_comparison` does the same for several systems scored
on the same references: a column per system in the summary, each metric per system in the
utterance table, and per utterance the reference and one player per system, as a listening test
needs; :func:`write_report` is its one-system form.

Self-contained apart from the media: no server, no network, no external script, style sheet or
font (the CSS and the few lines of sorting JavaScript are inline). The metric columns come from the
summaries (``summary["metrics"]``: name, label, direction), never from a fixed list.

- Audio is linked where it lies, by a path relative to the page's folder (percent-encoded), so
  the page plays when it is opened from disk, and after the page and the audio are moved together.
- Spectrograms are PNG files (600 x 200 px) in a folder beside the page (``report.html`` ->
  ``report_files/``), loaded lazily by the browser. At about 100 KB each, embedding them as data
  URIs would make a page of tens of MB (base64 adds a third) that is slow to open even to read
  its first rows. Drawing one takes about 0.1 s, so only the ``max_spectrograms`` utterances that
  come first in the default order (the worst ones) get them, 50 by default: for a one-hour test
  set (~500 utterances) scored by one system that is ~10 s and ~10 MB instead of ~100 s and
  ~100 MB, and the worst utterances are the ones worth looking at.
- Every utterance gets its players. Those of the utterances with spectrograms load their metadata
  (length) at once (``preload="metadata"``), at most :data:`PRELOADED_PLAYERS` of them; the
  others load when played (``preload="none"``). Chromium gives a page at most 1000 media players
  that have loaded something and refuses every further one for good ("no supported sources"), so
  a comparison of 2 systems on 500 utterances (1500 players) would leave a third of them dead,
  and loading 1000 players' metadata takes a while; a player that is not preloaded costs
  nothing until it is played.
- The default order is worst first by the first metric of the (first) summary, or ``sort_by``:
  ascending when higher is better, descending when lower is; values that were not computed
  (shown as "—", the reason in the cell's tooltip) always sort last; ties keep the id order.

The utterance table's sort contract (used by the browser tests): each sortable header cell is
``<th data-col=C data-worst=asc|desc>`` where ``C`` is the cell index in the utterances' score
rows (0: the utterance id, then metric by metric, system by system), each utterance is one
``<tbody data-order=N>`` (``N``: its position by id) whose first row holds the scores, each score
cell carries its value in ``data-value`` (empty when missing).
"""

from __future__ import annotations

import contextlib
import html
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from simvq_audio.atomic import atomic_path
from simvq_audio.data.audio_io import read_audio
from simvq_audio.errors import UserInputError
from simvq_audio.metrics import plots
from simvq_audio.metrics.scorers import Column
from simvq_audio.metrics.summary import format_value, summary_columns
from simvq_audio.metrics.utterance import ALL

MAX_SPECTROGRAMS = 50
"""Utterances that get spectrograms by default (the first ones in the default order)."""
PRELOADED_PLAYERS = 500
"""At most this many players load their metadata with the page (half Chromium's limit of 1000
players per page, leaving room for those started by a click)."""
TRANSCRIPT_SUFFIX = "_transcript"
"""Row keys ending so (string details of the scorers) are shown under the system's player."""
_IMAGE_NAME = re.compile(r"\d{4,}-(ref|sys\d+)\.png")
"""The names of the spectrogram files this module writes (stale ones are removed)."""

System = tuple[str, dict, list[dict], list[tuple[str, Path, Path]]]
"""``(name, summary, rows, pairs)``: a system's name, its ``summary.json`` content, its
``scores.csv`` rows and its ``(utt_id, ref_path, hyp_path)`` audio pairs."""


@dataclass
class _Utterance:
    """One utterance across systems: its reference, and each system's hypothesis and row
    (``None`` where that system has none)."""

    utt_id: str
    order: int
    ref: Path | None
    hyps: list[Path | None]
    rows: list[dict | None]


def write_report(path: str | os.PathLike, summary: dict, rows: list[dict],
                 pairs: list[tuple[str, Path, Path]],
                 max_spectrograms: int | None = MAX_SPECTROGRAMS,
                 sort_by: str | None = None) -> None:
    """Write the page of one scoring run to ``path`` (atomically) and its spectrograms to the
    folder ``<path stem>_files`` beside it.

    Args:
        summary: the run's summary (:func:`simvq_audio.metrics.summary.summarise`, with ``name``
            and ``inputs`` when present).
        rows: the per-utterance rows (``utt_id``, one key per metric, ``skipped``).
        pairs: ``(utt_id, ref_path, hyp_path)`` of the audio files.
        max_spectrograms: how many utterances (worst first) get spectrograms and preloaded
            players; ``None``: all.
        sort_by: the metric name the table is sorted by at first (default: the first metric).
    """
    write_comparison(path, [(summary.get("name") or "system", summary, rows, pairs)],
                     max_spectrograms, sort_by)


def write_comparison(path: str | os.PathLike, systems: list[System],
                     max_spectrograms: int | None = MAX_SPECTROGRAMS,
                     sort_by: str | None = None) -> None:
    """Write the page comparing ``systems`` (see :data:`System`) to ``path`` (atomically) and
    the spectrograms to the folder ``<path stem>_files`` beside it.

    The metric columns are all the systems' metrics, in order of first appearance; the
    utterances are all the systems' ids, the reference of each taken from the first system that
    has it. The table is sorted at first by ``sort_by`` (default: the first metric) of the first
    system, worst first, and the first ``max_spectrograms`` utterances of that order (``None``:
    all) get spectrograms of the reference and of every system's output, and players that load
    their metadata with the page (at most :data:`PRELOADED_PLAYERS` players).

    Raises:
        UserInputError: no system, ``sort_by`` that is no metric of the summaries, or a file
        that cannot be written.
    """
    if not systems:
        raise UserInputError("a report needs at least one system")
    path = Path(path)
    page_dir = Path(os.path.abspath(path.parent))
    columns = summary_columns([summary for _, summary, _, _ in systems])
    if sort_by is None:
        sort_column = columns[0] if columns else None
    else:
        matching = [column for column in columns if column.name == sort_by]
        if not matching:
            raise UserInputError(f"cannot sort the report by {sort_by!r}: the metrics are "
                                 + ", ".join(column.name for column in columns))
        sort_column = matching[0]
    utterances = _utterances(systems)
    if sort_column is not None:
        utterances = _worst_first(utterances, sort_column)
    folder = path.with_name(f"{path.stem}_files")
    drawn = len(utterances) if max_spectrograms is None else max_spectrograms
    preloaded = min(drawn, PRELOADED_PLAYERS // (1 + len(systems)))
    written: set[Path] = set()
    bodies = []
    for position, utterance in enumerate(utterances):
        pictures = (_spectrograms(utterance, folder, page_dir, written) if position < drawn
                    else [""] * (1 + len(systems)))
        preload = "metadata" if position < preloaded else "none"
        bodies.append(_utterance_body(utterance, columns, systems, pictures, preload, page_dir))
    sort_col = 1 + columns.index(sort_column) * len(systems) if sort_column else 0
    sort_dir = _worst(sort_column) if sort_column else "asc"
    page = _page(systems, columns, bodies, sort_col, sort_dir, sort_column,
                 min(drawn, len(bodies)), min(preloaded, len(bodies)))
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    _remove_stale_images(folder, written)


def _utterances(systems: list[System]) -> list[_Utterance]:
    """Every utterance id of the systems' rows and pairs, sorted, with each system's files and
    row."""
    ids = sorted({row["utt_id"] for _, _, rows, _ in systems for row in rows}
                 | {utt_id for _, _, _, pairs in systems for utt_id, _, _ in pairs})
    count = len(systems)
    by_id = {utt_id: _Utterance(utt_id, order, None, [None] * count, [None] * count)
             for order, utt_id in enumerate(ids)}
    for index, (_, _, rows, pairs) in enumerate(systems):
        for row in rows:
            by_id[row["utt_id"]].rows[index] = row
        for utt_id, ref, hyp in pairs:
            utterance = by_id[utt_id]
            utterance.hyps[index] = Path(hyp)
            utterance.ref = utterance.ref or Path(ref)
    return list(by_id.values())


def _value(row: dict | None, name: str) -> float | None:
    """The row's value of metric ``name``; ``None`` when missing or not a number."""
    value = None if row is None else row.get(name)
    return None if value is None or math.isnan(value) else float(value)


def _missing_reason(row: dict | None, column: Column, columns: list[Column],
                    scored: dict) -> str:
    """Why ``row`` (of the system whose summary's metrics are ``scored``) has no value for
    ``column``: the reason recorded under the metric, else the whole utterance's, else those
    recorded under names that are no metric (a model metric's skips are recorded under its
    scorer's name)."""
    if column.name not in scored:
        return "not a metric of this system"
    if row is None:
        return "not in this system's scores"
    if column.name in row:
        return "not a number"
    skipped = row["skipped"]
    if column.name in skipped:
        return skipped[column.name]
    if ALL in skipped:
        return skipped[ALL]
    metric_names = {other.name for other in columns}
    others = [f"{name}: {reason}" for name, reason in skipped.items() if name not in metric_names]
    return "; ".join(others) or "not scored"


def _worst(column: Column) -> str:
    """The sort direction that puts ``column``'s worst values first."""
    return "asc" if column.higher_is_better else "desc"


def _worst_first(utterances: list[_Utterance], column: Column) -> list[_Utterance]:
    """``utterances`` sorted by the first system's ``column``, worst first, missing values last,
    ties in id order (the order the page's script gives)."""
    sign = 1 if column.higher_is_better else -1

    def key(utterance: _Utterance) -> tuple:
        value = _value(utterance.rows[0], column.name)
        return value is None, 0.0 if value is None else sign * value, utterance.order

    return sorted(utterances, key=key)


def _spectrograms(utterance: _Utterance, folder: Path, page_dir: Path,
                  written: set[Path]) -> list[str]:
    """Draw the log spectrograms of the utterance's reference and outputs (one colour scale and
    one time and frequency range for all) into ``folder``, adding the files to ``written``;
    returns the HTML of each picture (an ``<img>`` or why there is none; empty without audio)."""
    audio = [utterance.ref, *utterance.hyps]
    roles = ["ref", *(f"sys{index}" for index in range(len(utterance.hyps)))]
    pictures = [""] * len(audio)
    spectra = {}
    for index, path in enumerate(audio):
        if path is None:
            continue
        try:
            wav, rate = read_audio(path)
        except UserInputError as error:
            pictures[index] = _note(f"no spectrogram: {error}")
            continue
        if wav.shape[-1] <= plots.SPECTROGRAM_N_FFT:
            pictures[index] = _note("no spectrogram: shorter than one analysis window")
            continue
        spectra[index] = (plots.log_spectrogram(wav[0].numpy()), rate, wav.shape[-1] / rate)
    if not spectra:
        return pictures
    low = min(spec.min() for spec, _, _ in spectra.values())
    high = max(spec.max() for spec, _, _ in spectra.values())
    top_khz = max(rate for _, rate, _ in spectra.values()) / 2000
    seconds = max(duration for _, _, duration in spectra.values())
    plt = plots.pyplot()
    for index, (spec, rate, _) in spectra.items():
        figure = plt.figure(figsize=(6, 2), dpi=100)
        axis = figure.add_axes((0.1, 0.22, 0.88, 0.74))
        axis.imshow(spec, origin="lower", aspect="auto", vmin=low, vmax=high, cmap="magma",
                    extent=(0, spec.shape[1] * plots.SPECTROGRAM_HOP / rate, 0, rate / 2000))
        axis.set_xlim(0, seconds)
        axis.set_ylim(0, top_khz)
        axis.set_xlabel("time (s)", fontsize=9)
        axis.set_ylabel("kHz", fontsize=9)
        axis.tick_params(labelsize=9)
        image = folder / f"{utterance.order:04d}-{roles[index]}.png"
        plots.save_figure(figure, image)
        written.add(image)
        pictures[index] = (f'<img src="{_e(_link(image, page_dir))}" width="600" height="200" '
                           f'loading="lazy" alt="log spectrogram">')
    return pictures


def _remove_stale_images(folder: Path, written: set[Path]) -> None:
    """Remove the spectrogram files of an earlier page that this one does not show (and the
    folder, when nothing else is left in it)."""
    if not folder.is_dir():
        return
    for file in folder.iterdir():
        if _IMAGE_NAME.fullmatch(file.name) and file not in written:
            file.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


def _link(target: Path, page_dir: Path) -> str:
    """The URL of ``target`` relative to the page's folder, percent-encoded (a ``file:`` URL
    where there is no relative path: another drive on Windows)."""
    try:
        relative = os.path.relpath(os.path.abspath(target), page_dir)
    except ValueError:
        return Path(os.path.abspath(target)).as_uri()
    return quote(Path(relative).as_posix())


def _e(text: object) -> str:
    """``text`` escaped for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _utterance_body(utterance: _Utterance, columns: list[Column], systems: list[System],
                    pictures: list[str], preload: str, page_dir: Path) -> str:
    """One utterance's ``<tbody>``: its score row, then its players (with ``preload``) and
    spectrograms."""
    cells = [f'<th scope="row" data-value="{utterance.order}">{_e(utterance.utt_id)}</th>']
    for column in columns:
        for row, (_, summary, _, _) in zip(utterance.rows, systems):
            value = _value(row, column.name)
            if value is None:
                reason = _missing_reason(row, column, columns, summary["metrics"])
                cells.append(f'<td class="missing" data-value="" title="{_e(reason)}">—</td>')
            else:
                cells.append(f'<td data-value="{_js_number(value)}">{format_value(value)}</td>')
    figures = [_figure("reference", utterance.ref, pictures[0], [], preload, page_dir)]
    names = [name for name, _, _, _ in systems]
    for name, hyp, row, picture in zip(names, utterance.hyps, utterance.rows, pictures[1:]):
        transcripts = [(key, value) for key, value in (row or {}).items()
                       if key.endswith(TRANSCRIPT_SUFFIX) and isinstance(value, str)]
        figures.append(_figure(name, hyp, picture, transcripts, preload, page_dir))
    return (f'<tbody data-order="{utterance.order}"><tr>{"".join(cells)}</tr>'
            f'<tr class="media"><td colspan="{len(cells)}"><div class="media">'
            f'{"".join(figures)}</div></td></tr></tbody>')


def _js_number(value: float) -> str:
    """``value`` as JavaScript's ``Number()`` reads it (``Infinity`` for infinities)."""
    return repr(value) if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")


def _figure(caption: str, audio: Path | None, picture: str, notes: list[tuple[str, str]],
            preload: str, page_dir: Path) -> str:
    """One audio file: caption, player, spectrogram, then small ``label: text`` notes."""
    player = (_note("no audio for this utterance") if audio is None else
              f'<audio controls preload="{preload}" src="{_e(_link(audio, page_dir))}"></audio>')
    notes_html = "".join(_note(f"{label}: {text}") for label, text in notes)
    return (f"<figure><figcaption>{_e(caption)}</figcaption>{player}{picture}{notes_html}"
            "</figure>")


def _sort_header(col: int, worst: str, text: str, extra: str = "") -> str:
    """A sortable header cell (the module docstring's sort contract)."""
    return (f'<th data-col="{col}" data-worst="{worst}"{extra}>'
            f'<button type="button">{_e(text)}</button></th>')


def _utterance_head(columns: list[Column], names: list[str]) -> str:
    """The utterance table's header: one sortable cell per metric (one system) or a metric row
    above a sortable row of system names (several)."""
    if len(names) == 1:
        return ("<tr>" + _sort_header(0, "asc", "Utterance")
                + "".join(_sort_header(1 + index, _worst(column), column.heading)
                          for index, column in enumerate(columns)) + "</tr>")
    metric_row = "".join(f'<th colspan="{len(names)}">{_e(column.heading)}</th>'
                         for column in columns)
    system_row = "".join(_sort_header(1 + index * len(names) + system, _worst(column), name)
                         for index, column in enumerate(columns)
                         for system, name in enumerate(names))
    id_header = _sort_header(0, "asc", "Utterance", ' rowspan="2"')
    return f"<tr>{id_header}{metric_row}</tr><tr>{system_row}</tr>"


def _summary_section(systems: list[System], columns: list[Column]) -> str:
    """The systems (utterances, inputs), the summary table and the skip reasons."""
    several = len(systems) > 1
    facts = []
    for name, summary, _, _ in systems:
        inputs = summary.get("inputs") or {}
        where = "".join(f", {key} <code>{_e(value)}</code>" for key, value in inputs.items()
                        if value)
        facts.append(f"<li>{_e(name)}: {summary['num_utterances']} utterances "
                     f"({summary.get('num_skipped_utterances', 0)} skipped entirely){where}</li>")
    head = ""
    if several:
        head = "<tr><th></th>" + "".join(f'<th colspan="3">{_e(name)}</th>'
                                         for name, _, _, _ in systems) + "</tr>"
    head += ("<tr><th>Metric</th>"
             + "<th>Mean ± 95 % CI</th><th>Scored</th><th>Skipped</th>" * len(systems) + "</tr>")
    rows = []
    for column in columns:
        cells = []
        for _, summary, _, _ in systems:
            entry = summary["metrics"].get(column.name)
            cells.append("<td>n/a</td><td></td><td></td>" if entry is None else
                         f'<td>{format_value(entry["mean"], entry["ci95"])}</td>'
                         f'<td class="count">{entry["count"]}</td>'
                         f'<td class="count">{entry["skipped"]}</td>')
        rows.append(f'<tr><th scope="row">{_e(column.heading)}</th>{"".join(cells)}</tr>')
    reasons = [f"{name}: {metric}: {reason} ({count})" if several
               else f"{metric}: {reason} ({count})"
               for name, summary, _, _ in systems
               for metric, counts in summary.get("skip_reasons", {}).items()
               for reason, count in counts.items()]
    reasons += [f"{name}: {metric}: not computed: {reason}" if several
                else f"{metric}: not computed: {reason}"
                for name, summary, _, _ in systems
                for metric, reason in (summary.get("unavailable") or {}).items()]
    skipped = ("<h3>Skipped</h3><ul>" + "".join(f"<li>{_e(line)}</li>" for line in reasons)
               + "</ul>") if reasons else ""
    return (f'<h2>Summary</h2><ul>{"".join(facts)}</ul>'
            f'<table class="summary"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
            f"{skipped}")


def _page(systems: list[System], columns: list[Column], bodies: list[str], sort_col: int,
          sort_dir: str, sort_column: Column | None, drawn: int, preloaded: int) -> str:
    """The whole HTML document."""
    names = [name for name, _, _, _ in systems]
    title = (f"Scores of {names[0]}" if len(names) == 1
             else "Comparison of " + ", ".join(names))
    order = (f"worst first by {sort_column.heading}"
             + (f" of {names[0]}" if len(names) > 1 else "") if sort_column else "by id")
    media = (f"The first {drawn} utterances of this order have spectrograms, the first "
             f"{preloaded} players that show their length at once; the other players load when "
             "played.")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{_e(title)}</h1>
{_summary_section(systems, columns)}
<h2>Utterances</h2>
<p>Sorted {_e(order)}. Click a column header to sort by it (worst first), again to reverse;
values that were not computed (—, the reason in the tooltip) always come last.
{_e(media)}</p>
<table id="utts" data-sort-col="{sort_col}" data-sort-dir="{sort_dir}">
<thead>{_utterance_head(columns, names)}</thead>
{"".join(bodies)}
</table>
<script>{_SCRIPT}</script>
</body>
</html>
"""


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; }
thead { position: sticky; top: 0; background: #f3f3f3; }
tbody th { text-align: left; font-weight: normal; word-break: break-all; }
td[data-value], td.count { text-align: right; font-variant-numeric: tabular-nums; }
td.missing { color: #999; text-align: center; }
th button { font: inherit; font-weight: bold; background: none; border: 0; padding: 0;
            cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " ▲"; }
th[aria-sort="descending"] button::after { content: " ▼"; }
tr.media > td { border-top: 0; padding-bottom: 1em; }
div.media { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; flex: 1 1 300px; max-width: 600px; }
figcaption { font-weight: bold; }
audio, img { display: block; width: 100%; }
img { height: auto; }
.note { font-size: 12px; color: #555; margin: 0.2em 0; }
"""

_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("utts");
  var state = {col: Number(table.dataset.sortCol), dir: table.dataset.sortDir};
  function value(body, col) {
    var text = body.rows[0].cells[col].dataset.value;
    return text === "" ? NaN : Number(text);
  }
  function mark() {
    table.tHead.querySelectorAll("th[data-col]").forEach(function (th) {
      if (Number(th.dataset.col) === state.col) {
        th.setAttribute("aria-sort", state.dir === "asc" ? "ascending" : "descending");
      } else {
        th.removeAttribute("aria-sort");
      }
    });
  }
  function sort() {
    var sign = state.dir === "asc" ? 1 : -1;
    var bodies = Array.prototype.slice.call(table.tBodies);
    bodies.sort(function (a, b) {
      var x = value(a, state.col), y = value(b, state.col);
      if (isNaN(x) !== isNaN(y)) { return isNaN(x) ? 1 : -1; }
      if (x < y) { return -sign; }
      if (x > y) { return sign; }
      return Number(a.dataset.order) - Number(b.dataset.order);
    });
    bodies.forEach(function (body) { table.appendChild(body); });
    mark();
  }
  table.tHead.addEventListener("click", function (event) {
    var th = event.target.closest("th[data-col]");
    if (!th) { return; }
    var col = Number(th.dataset.col);
    if (col === state.col) {
      state.dir = state.dir === "asc" ? "desc" : "asc";
    } else {
      state = {col: col, dir: th.dataset.worst};
    }
    sort();
  });
  mark();
})();
"""
