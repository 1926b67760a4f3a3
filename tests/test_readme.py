"""The README and docs/ (issue 26): the README stays short, its Python example runs (the
quickstart's codec and the SimVQ authors' weights, imported from the fixture their code made),
its commands exist, and every relative link of README.md and docs/*.md reaches a file."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from simvq_audio.cli import COMMANDS
from simvq_audio.codec import SimVQCodec

from repo_paths import FIXTURES, REPO, TINY_RECIPE

README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same level."""
    start = text.index(heading + "\n") + len(heading) + 1
    end = text.find("\n" + heading.split(" ")[0] + " ", start)
    return text[start:] if end < 0 else text[start:end]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.DOTALL | re.MULTILINE)


def relative_links(page: Path) -> list[str]:
    """The link targets of ``page`` that are not URLs, code left out."""
    prose = INLINE_CODE.sub("", FENCED.sub("", page.read_text(encoding="utf-8")))
    return [target for target in LINK.findall(prose)
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def test_the_readme_is_at_most_200_lines_and_keeps_the_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    setup = code_blocks(section(text, "## Install and first run"), "bash")[0]
    assert [line.split("#")[0].strip() for line in setup.splitlines()] == [
        "bash egs/mini/run.sh", "bash tools/test.sh"]
    words = " ".join(text.split())
    for kept in ("source .venv/bin/activate", ".venv/bin/simvq-audio",
                 "prints paths relative to `egs/mini/`", "ends with pytest's counts"):
        assert kept in words, kept


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda page: page.name)
def test_every_relative_link_reaches_a_file_without_an_anchor(page):
    links = relative_links(page)
    assert links, f"{page.name} links nothing (docs pages link back to the README)"
    for target in links:
        assert "#" not in target, f"{page.name}: {target}: link the page, not a heading"
        assert (page.parent / target).is_file(), f"{page.name}: {target} does not exist"


def test_every_docs_page_is_reachable_from_the_readme():
    seen, todo = set(), [README.resolve()]
    while todo:
        page = todo.pop()
        if page in seen or page.suffix != ".md":
            continue
        seen.add(page)
        todo += [(page.parent / target).resolve() for target in relative_links(page)]
    assert {page.resolve() for page in PAGES} <= seen


def test_every_command_the_readme_shows_exists():
    names = {name for name, _, _ in COMMANDS}
    shown = "\n".join(code_blocks(README.read_text(encoding="utf-8"), "bash"))
    used = set(re.findall(r"simvq-audio (?:--threads \d+ )?([a-z][a-z-]*)", shown))
    assert used and used <= names, used - names


def test_the_readme_python_example_encodes_decodes_and_imports_the_authors_weights(
        tmp_path, monkeypatch):
    """Run as written, from a directory holding what it names: the quickstart's model dir (an
    untrained tiny codec), speech.wav (the authors' fixture input) and their checkpoint (the
    small one their own code made, in the released layout)."""
    example = code_blocks(section(README.read_text(encoding="utf-8"), "## Python"), "python")[0]
    assert len([line for line in example.splitlines() if line.strip()]) <= 10
    reference = FIXTURES / "reference"
    torch.manual_seed(0)
    codec = SimVQCodec.from_config(TINY_RECIPE)
    codec.save_pretrained(tmp_path / "egs" / "mini" / "exp" / "tiny" / "model")
    shutil.copy(reference / "input_24000.wav", tmp_path / "speech.wav")
    shutil.copy(reference / "simvq_small.ckpt", tmp_path / "epoch=49-step=138600.ckpt")
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(example, "README.md", "exec"), names)

    wav, _ = soundfile.read(reference / "input_24000.wav", dtype="float32")
    tokens, audio = names["tokens"], names["audio"]
    assert torch.equal(tokens.ids, codec.encode(wav, sample_rate=24000).ids)
    assert tokens.ids.shape == (1, 75) and audio.shape == (1, 75 * 320)
    expected = codec.decode(tokens)
    torch.testing.assert_close(audio, expected, rtol=0, atol=1e-6 * expected.abs().max().item())
    authors = names["authors"].encode(names["wav"], sample_rate=names["rate"])
    their_ids = np.load(reference / "expected.npz")["24000.ids"]
    assert np.array_equal(authors.ids[0].numpy(), their_ids)
    assert names["authors"].codebook_size == 1024


def test_the_python_api_page_runs_what_encode_and_tokenize_do(tmp_path, monkeypatch):
    """docs/python_api.md's example of the commands' work from Python, run as written on two
    real recordings: the .codes files hold the codec's own tokens of each file, and the
    tokenized corpus reads back with the same ids."""
    page = (REPO / "docs" / "python_api.md").read_text(encoding="utf-8")
    example = code_blocks(section(page, "## The commands' work, from Python"), "python")[0]
    torch.manual_seed(0)
    codec = SimVQCodec.from_config(TINY_RECIPE)
    (tmp_path / "wavs").mkdir()
    (tmp_path / "data" / "train").mkdir(parents=True)
    scp = []
    for name in ("cards_005", "librivox_0930"):
        shutil.copy(FIXTURES / "speech" / f"{name}.wav", tmp_path / "wavs" / f"{name}.wav")
        scp.append(f"{name} {tmp_path / 'wavs' / name}.wav\n")
    (tmp_path / "data" / "train" / "wav.scp").write_text("".join(scp), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "python_api.md", "exec"), {"codec": codec})

    from simvq_audio.tokenize import read_tokens

    rows = {row.utt_id: row for row in read_tokens(tmp_path / "tokens" / "train")}
    assert sorted(rows) == ["cards_005", "librivox_0930"]
    for name, row in rows.items():
        expected = codec.encode_file(tmp_path / "wavs" / f"{name}.wav").ids[0]
        assert torch.equal(codec.load_codes(tmp_path / "codes" / f"{name}.codes").ids[0],
                           expected)
        assert torch.equal(torch.as_tensor(row.ids), expected)
