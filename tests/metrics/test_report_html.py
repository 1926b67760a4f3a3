"""report.html: the page, its links and escaping (without a browser), the scoring folders read
back for a comparison, then both pages in headless Chromium (players load the real files, no
script or console error, sorting by clicking a header)."""

import csv
import html
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile

from simvq_audio.errors import UserInputError
from simvq_audio.metrics import report_html
from simvq_audio.metrics.report_html import write_comparison, write_report
from simvq_audio.metrics.score_dirs import parse_skipped, read_score_dir
from simvq_audio.metrics.scorers import Column
from simvq_audio.metrics.summary import summarise
from simvq_audio.metrics.synthetic import speech_like

RATE = 16000
# ids come from file names: characters HTML and URLs must escape, a sub-folder, a space
SECONDS = {'a&b<c"d': 1.0, "spk/e #1%": 0.8, "f": 1.2}
IDS = sorted(SECONDS)
ALPHA, BETA, GAMMA = (Column("alpha", "Alpha", True), Column("beta", "Beta <dB>", False),
                      Column("gamma", "Gamma", True))
SHORT = 'too short < 1 s & "quiet"; see: the log'   # a reason holding "; " and ": "
TRANSCRIPT = "hello <world> & co"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def write_audio(folder: Path, utt_id: str, suffix: str, rate: int, seed: int) -> Path:
    path = folder / f"{utt_id}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), speech_like(SECONDS[utt_id], rate, np.random.default_rng(seed)),
                    rate)
    return path


def make_system(root: Path, name: str, rate: int, suffixes: dict, values: dict,
                columns: list, details: dict | None = None):
    """``(name, summary, rows, pairs)`` of system ``name``: its outputs written under
    ``root/name`` (``suffixes[utt_id]``, default .wav) against ``root/ref``; ``values[utt_id]``
    holds the metric values (a missing metric is skipped with :data:`SHORT`)."""
    pairs, rows = [], []
    for seed, utt_id in enumerate(IDS):
        ref = root / "ref" / f"{utt_id}.wav"
        if not ref.exists():
            write_audio(root / "ref", utt_id, ".wav", RATE, seed)
        hyp = write_audio(root / name, utt_id, suffixes.get(utt_id, ".wav"), rate, seed + 10)
        pairs.append((utt_id, ref, hyp))
        row = {"utt_id": utt_id, "ref_seconds": SECONDS[utt_id], "hyp_seconds": SECONDS[utt_id],
               **values[utt_id], **(details or {}).get(utt_id, {}), "skipped": {}}
        row["skipped"] = {column.name: SHORT for column in columns if column.name not in row}
        rows.append(row)
    summary = {"name": name, **summarise(rows, columns),
               "inputs": {"ref": str(root / "ref"), "hyp": str(root / name), "codes": None}}
    return name, summary, rows, pairs


@pytest.fixture(scope="module")
def systems(tmp_path_factory):
    """System A (16 kHz, one FLAC; alpha and beta, f's alpha skipped) and system B (24 kHz;
    alpha with a tie, and gamma; transcripts)."""
    root = tmp_path_factory.mktemp("audio")
    a = make_system(root, "A", RATE, {"spk/e #1%": ".flac"},
                    {'a&b<c"d': {"alpha": 2.5, "beta": 0.3},
                     "spk/e #1%": {"alpha": 1.5, "beta": 0.9}, "f": {"beta": 0.1}},
                    [ALPHA, BETA])
    b = make_system(root, "B", 24000, {},
                    {'a&b<c"d': {"alpha": 3.0, "gamma": 0.2}, "spk/e #1%": {"alpha": 2.0},
                     "f": {"alpha": 2.0, "gamma": 0.7}}, [ALPHA, GAMMA],
                    {utt_id: {"whisper_transcript": TRANSCRIPT} for utt_id in IDS})
    return a, b


def expected_order(rows: list[dict], metric: str, ascending: bool) -> list[str]:
    """The ids sorted by ``metric`` (ties in id order), missing values last."""
    present = sorted((row[metric] if ascending else -row[metric], IDS.index(row["utt_id"]))
                     for row in rows if metric in row)
    return [IDS[index] for _, index in present] + [row["utt_id"] for row in rows
                                                   if metric not in row]


class Links(HTMLParser):
    """The ``src`` of every ``<audio>`` and ``<img>``, the ids of the utterance rows in order, and
    every attribute value naming a URL."""

    def __init__(self):
        super().__init__()
        self.audio, self.images, self.ids, self.urls = [], [], [], []
        self._in_id = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [value for name, value in attrs.items() if name in ("src", "href")]
        if tag == "audio":
            self.audio.append(attrs["src"])
        elif tag == "img":
            self.images.append(attrs["src"])
        self._in_id = tag == "th" and attrs.get("scope") == "row" and "data-value" in attrs

    def handle_data(self, data):
        if self._in_id:
            self.ids.append(data)
            self._in_id = False


def parse(page: Path) -> Links:
    links = Links()
    links.feed(page.read_text(encoding="utf-8"))
    return links


def test_page_escapes_ids_and_links_the_audio_relatively(systems, tmp_path):
    _, summary, rows, pairs = systems[0]
    page = tmp_path / "out" / "report.html"
    write_report(page, summary, rows, pairs)
    text = page.read_text(encoding="utf-8")
    for utt_id in IDS:
        assert html.escape(utt_id) in text
    assert 'a&b<c"d' not in text and "http://" not in text and "https://" not in text
    assert "<link" not in text and "<script src" not in text
    assert f'title="{html.escape(SHORT)}">—</td>' in text
    assert "Beta &lt;dB&gt; ↓" in text and "Alpha ↑" in text
    links = parse(page)
    assert links.ids == expected_order(rows, "alpha", ascending=True)   # worst first
    resolved = set()
    for src in links.audio + links.images:
        assert ":" not in src and not src.startswith("/")    # relative, no scheme
        resolved.add((page.parent / unquote(src)).resolve(strict=True))
    assert {path.resolve() for _, ref, hyp in pairs for path in (ref, hyp)} <= resolved
    assert len(links.audio) == 2 * len(IDS) and len(links.images) == 2 * len(IDS)
    assert all(src.startswith("report_files/") for src in links.images)
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
               for path in (page.parent / "report_files").iterdir())


def test_spectrograms_are_capped_and_stale_ones_removed(systems, tmp_path):
    _, summary, rows, pairs = systems[0]
    page = tmp_path / "report.html"
    write_report(page, summary, rows, pairs)
    write_report(page, summary, rows, pairs, max_spectrograms=1, sort_by="beta")
    links = parse(page)
    assert links.ids[0] == "spk/e #1%" and len(links.audio) == 2 * len(IDS)
    drawn = [f"{IDS.index('spk/e #1%'):04d}-{role}.png" for role in ("ref", "sys0")]
    assert sorted(links.images) == [f"report_files/{name}" for name in drawn]
    assert sorted(path.name for path in (tmp_path / "report_files").iterdir()) == drawn
    write_report(page, summary, rows, pairs, max_spectrograms=0)
    assert not (tmp_path / "report_files").exists()
    with pytest.raises(UserInputError, match="cannot sort the report by 'gamma'"):
        write_report(page, summary, rows, pairs, sort_by="gamma")


def write_score_dir(out: Path, summary: dict, rows: list[dict]) -> Path:
    """``out/summary.json`` and ``out/scores.csv`` as ``simvq-audio score`` writes them."""
    out.mkdir(parents=True)
    (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    columns = ["utt_id", "ref_seconds", "hyp_seconds", *summary["metrics"],
               "whisper_transcript", "skipped"]
    with open(out / "scores.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "skipped": "; ".join(f"{metric}: {reason}" for metric, reason
                                                         in row["skipped"].items())})
    return out / "summary.json"


def test_score_dirs_are_read_back(systems, tmp_path):
    for name, summary, rows, pairs in systems:
        read = read_score_dir(write_score_dir(tmp_path / name, summary, rows))
        assert read == (name, summary, rows, pairs)
    assert parse_skipped("all: x: y; z; pesq: a", {"all", "pesq"}) == {"all": "x: y; z",
                                                                       "pesq": "a"}
    with pytest.raises(UserInputError, match="names no metric"):
        parse_skipped("dnsmos: no model", {"all", "pesq"})


def test_comparison_page(systems, tmp_path, monkeypatch):
    page = tmp_path / "compare.html"
    monkeypatch.setattr(report_html, "PRELOADED_PLAYERS", 7)   # 2 utterances of 3 players
    write_comparison(page, list(systems))
    text = page.read_text(encoding="utf-8")
    links = parse(page)
    assert links.ids == expected_order(systems[0][2], "alpha", ascending=True)
    assert len(links.audio) == 3 * len(IDS) and len(links.images) == 3 * len(IDS)
    assert text.count('preload="metadata"') == 6 and text.count('preload="none"') == 3
    assert all(src.startswith("compare_files/") for src in links.images)
    assert text.count(f"whisper_transcript: {html.escape(TRANSCRIPT)}") == len(IDS)
    assert '<th colspan="3">A</th><th colspan="3">B</th>' in text
    # A has no gamma, B no beta
    assert text.count('title="not a metric of this system"') == 2 * len(IDS)


# --- in a real browser -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which(
        "chromium")
    if chromium is None:
        pytest.skip("no Chromium (/usr/bin/chromium or chromium on PATH; Debian: apt install "
                    "chromium) for the browser tests")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(browser, path: Path):
    """The page at ``path`` loaded with every player's metadata (those not preloaded told to
    load it) and every image, each checked, and the list collecting its console and script
    errors."""
    page = browser.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    assert page.eval_on_selector_all('audio[preload="none"]', """all => all.every(
        audio => audio.readyState === 0)""")
    page.eval_on_selector_all('audio[preload="none"]', """all => all.forEach(
        audio => { audio.preload = "metadata"; })""")
    page.wait_for_function("""() => Array.from(document.querySelectorAll("audio"))
                                       .every(audio => audio.readyState >= 1 || audio.error)""",
                           timeout=15000)
    players = page.eval_on_selector_all("audio", """all => all.map(audio => [
        audio.getAttribute("src"), audio.readyState, audio.duration,
        audio.error && audio.error.message])""")
    for src, state, duration, error in players:
        assert error is None and state >= 1, (src, error)
        file = path.parent / unquote(src)
        assert abs(duration - soundfile.info(str(file)).duration) <= 0.02, src
    page.eval_on_selector_all("img", "all => all.forEach(image => image.scrollIntoView())")
    page.wait_for_function("""() => Array.from(document.images)
                                       .every(image => image.complete && image.naturalWidth > 0)""",
                           timeout=15000)
    return page, errors


def shown_ids(page) -> list[str]:
    return page.eval_on_selector_all(
        "#utts > tbody", "all => all.map(body => body.rows[0].cells[0].textContent)")


def click_sorts(page, col: int, rows: list[dict], metric: str, worst_ascending: bool) -> None:
    """Clicking header ``col`` sorts by ``metric`` worst first, clicking again reverses."""
    header = page.locator(f'#utts th[data-col="{col}"]')
    header.locator("button").click()
    assert shown_ids(page) == expected_order(rows, metric, worst_ascending)
    assert header.get_attribute("aria-sort") == ("ascending" if worst_ascending
                                                 else "descending")
    header.locator("button").click()
    assert shown_ids(page) == expected_order(rows, metric, not worst_ascending)


def test_report_in_chromium(browser, systems, tmp_path):
    _, summary, rows, pairs = systems[0]
    path = tmp_path / "out" / "report.html"
    write_report(path, summary, rows, pairs)
    page, errors = open_page(browser, path)
    assert len(page.query_selector_all("audio")) == 2 * len(IDS)
    assert shown_ids(page) == expected_order(rows, "alpha", ascending=True)
    assert page.locator('#utts th[data-col="1"]').get_attribute("aria-sort") == "ascending"
    click_sorts(page, 2, rows, "beta", worst_ascending=False)
    click_sorts(page, 1, rows, "alpha", worst_ascending=True)
    cells = page.eval_on_selector_all(
        "#utts > tbody", "all => all.map(body => body.rows[0].cells[1].textContent)")
    assert cells == ["2.500", "1.500", "—"]     # best first, the skipped value still last
    page.close()
    assert errors == []


def test_comparison_in_chromium(browser, systems, tmp_path):
    path = tmp_path / "compare.html"
    write_comparison(path, list(systems), max_spectrograms=1)   # 2 utterances not preloaded
    assert path.read_text(encoding="utf-8").count('preload="none"') == 3 * (len(IDS) - 1)
    page, errors = open_page(browser, path)
    assert len(page.query_selector_all("audio")) == 3 * len(IDS)
    b_rows = systems[1][2]
    click_sorts(page, 2, b_rows, "alpha", worst_ascending=True)    # alpha of B (a tie)
    click_sorts(page, 6, b_rows, "gamma", worst_ascending=True)    # gamma of B (one missing)
    click_sorts(page, 3, systems[0][2], "beta", worst_ascending=False)   # beta of A
    page.close()
    assert errors == []
