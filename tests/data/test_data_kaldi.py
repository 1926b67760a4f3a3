"""Kaldi data dirs: writing, reading, the validator (every problem with file and line), the CLI."""

import numpy as np
import pytest
import soundfile

from simvq_audio.cli import main
from simvq_audio.data.kaldi_dir import (
    MAX_LISTED_PROBLEMS,
    read_data_dir,
    validate_data_dir,
    write_data_dir,
)
from simvq_audio.errors import UserInputError


def make_wav(path, seconds=0.5, rate=16000):
    soundfile.write(str(path), np.zeros(int(seconds * rate), dtype=np.float32), rate)
    return path


@pytest.fixture
def clean_dir(tmp_path):
    """A valid dir with three utterances given out of order (the writer sorts them)."""
    ids = ["b-2", "a-1", "B-3"]
    wavs = {utt: make_wav(tmp_path / f"{utt}.wav", seconds=0.25 * (i + 1))
            for i, utt in enumerate(ids)}
    data = tmp_path / "data"
    write_data_dir(data, wavs, utt2spk={utt: utt[0] for utt in ids},
                   text={"b-2": "hello world", "a-1": "", "B-3": "x"},
                   utt2dur={utt: 0.25 * (i + 1) for i, utt in enumerate(ids)})
    return data


def where(problems):
    return {(p.file.rsplit("/", 1)[-1], p.line) for p in problems}


def test_write_sorts_in_c_order_and_read_round_trips(clean_dir, tmp_path):
    assert (clean_dir / "wav.scp").read_text().split("\n")[0].startswith("B-3 ")  # 'B' < 'a'
    assert (clean_dir / "text").read_text().splitlines()[1] == "a-1"
    utterances = read_data_dir(clean_dir)
    assert [u.utt_id for u in utterances] == ["B-3", "a-1", "b-2"]
    assert utterances[2].path == tmp_path / "b-2.wav"
    assert utterances[2].duration == pytest.approx(0.25)
    assert utterances[2].speaker == "b" and utterances[2].text == "hello world"
    assert utterances[1].text == "" and utterances[1].language is None
    assert validate_data_dir(clean_dir) == []


def test_utt2lang_is_read_and_checked(clean_dir):
    (clean_dir / "utt2lang").write_text("B-3 en\na-1 fr\nb-2 en\n")
    assert [utt.language for utt in read_data_dir(clean_dir)] == ["en", "fr", "en"]
    (clean_dir / "utt2lang").write_text("B-3 en\na-1 fr ca\nb-2 en\n")
    problems = validate_data_dir(clean_dir)
    assert [(problem.line, "language of 'a-1' must be one word" in problem.message)
            for problem in problems] == [(2, True)]
    with pytest.raises(UserInputError, match="language must be one word"):
        write_data_dir(clean_dir.parent / "other", {"a": "a.wav"}, utt2lang={"a": "en us"})


def test_validator_reports_every_injected_problem_with_file_and_line(clean_dir):
    wav_lines = (clean_dir / "wav.scp").read_text().splitlines()
    (clean_dir / "wav.scp").write_text("\n".join([
        wav_lines[0],
        wav_lines[2],                       # line 2: b-2
        wav_lines[1],                       # line 3: a-1 after b-2 -> unsorted
        wav_lines[2],                       # line 4: duplicate b-2
        "c-4 /no/such/file.wav",            # line 5: missing audio, and not in the other tables
        "d-5 sox in.wav -t wav - |",        # line 6: pipe
        "",                                 # line 7: empty line
        "e-6",                              # line 8: no path
    ]) + "\n")
    (clean_dir / "utt2dur").write_text("B-3 0.75\na-1 -1\nb-2 abc\n")
    (clean_dir / "utt2spk").write_text("B-3 B\na-1 a\nb-2 b\nz-9 z\n")
    problems = validate_data_dir(clean_dir)
    expected = {("wav.scp", 3), ("wav.scp", 4), ("wav.scp", 5), ("wav.scp", 6), ("wav.scp", 7),
                ("wav.scp", 8), ("utt2dur", 2), ("utt2dur", 3), ("utt2spk", 4)}
    assert expected <= where(problems)
    messages = {(p.file.rsplit("/", 1)[-1], p.line): p.message for p in problems}
    assert "not sorted" in messages["wav.scp", 3]
    assert "duplicate" in messages["wav.scp", 4] and "line 2" in messages["wav.scp", 4]
    assert "pipe" in messages["wav.scp", 6]
    assert "positive" in messages["utt2dur", 2]
    assert "not in wav.scp" in messages["utt2spk", 4]
    missing_from = [p.message for p in problems if p.line == 5 and p.file.endswith("wav.scp")]
    assert any("not found" in m for m in missing_from)
    assert any("missing from text" in m for m in missing_from)


def test_duration_disagreeing_with_the_audio_is_reported(clean_dir):
    (clean_dir / "utt2dur").write_text("B-3 0.75\na-1 3.0\nb-2 0.25\n")
    problems = validate_data_dir(clean_dir)
    assert len(problems) == 1 and "utt2dur says 3 s" in problems[0].message
    assert validate_data_dir(clean_dir, check_audio=False) == []


def test_unreadable_audio_and_missing_wav_scp(clean_dir, tmp_path):
    (tmp_path / "a-1.wav").write_bytes(b"not audio at all")
    problems = validate_data_dir(clean_dir)
    assert len(problems) == 1 and "not a readable audio file" in problems[0].message
    (clean_dir / "wav.scp").unlink()
    problems = validate_data_dir(clean_dir)
    assert [(p.file.rsplit("/", 1)[-1], p.line) for p in problems] == [("wav.scp", None)]


def test_crlf_and_non_utf8_lines_are_reported(clean_dir):
    text = (clean_dir / "utt2spk").read_bytes().replace(b"\n", b"\r\n")
    (clean_dir / "utt2spk").write_bytes(text)
    (clean_dir / "text").write_bytes(b"B-3 x\na-1 \xff\xfe\nb-2 hello\n")
    problems = validate_data_dir(clean_dir)
    assert ("utt2spk", 1) in where(problems) and "CRLF" in problems[0].message
    assert ("text", 2) in where(problems)


def test_read_raises_one_error_listing_the_first_problems_and_counting_the_rest(clean_dir):
    lines = [f"u{i:03d} /missing/{i}.wav" for i in range(MAX_LISTED_PROBLEMS + 7)]
    (clean_dir / "wav.scp").write_text("\n".join(lines) + "\n")
    for name in ("utt2spk", "text", "utt2dur"):
        (clean_dir / name).unlink()
    with pytest.raises(UserInputError) as caught:
        read_data_dir(clean_dir)
    message = str(caught.value)
    assert f"{MAX_LISTED_PROBLEMS + 7} problem(s)" in message
    assert "wav.scp:1: 'u000': audio file not found" in message
    assert "... and 7 more" in message


def test_duplicate_ids_give_a_clear_error(clean_dir):
    first = (clean_dir / "wav.scp").read_text().splitlines()[0]
    with open(clean_dir / "wav.scp", "a") as handle:
        handle.write(first + "\n")
    with pytest.raises(UserInputError, match=r"wav.scp:4: duplicate id 'B-3' \(first on line 1\)"):
        read_data_dir(clean_dir)


def test_relative_paths_resolve_against_the_current_directory(tmp_path, monkeypatch):
    make_wav(tmp_path / "x.wav")
    write_data_dir(tmp_path / "data", {"x": "x.wav"})
    monkeypatch.chdir(tmp_path)
    assert read_data_dir("data")[0].path == tmp_path / "x.wav"
    monkeypatch.chdir(tmp_path / "data")
    with pytest.raises(UserInputError, match="resolved against the current directory"):
        read_data_dir(".")


@pytest.mark.parametrize("kwargs, match", [
    ({"wav_scp": {}}, "empty"),
    ({"wav_scp": {"a b": "x.wav"}}, "one word"),
    ({"wav_scp": {"a": "gunzip -c x.gz |"}}, "pipes are not supported"),
    ({"wav_scp": {"a": "x.wav"}, "utt2dur": {"a": 0.0}}, "positive"),
    ({"wav_scp": {"a": "x.wav"}, "utt2spk": {"b": "s"}}, "different ids"),
    ({"wav_scp": {"a": "x.wav"}, "text": {"a": "two\nlines"}}, "line break"),
])
def test_write_refuses_bad_tables_and_writes_nothing(tmp_path, kwargs, match):
    with pytest.raises(UserInputError, match=match):
        write_data_dir(tmp_path / "data", **kwargs)
    assert not (tmp_path / "data").exists()


def test_cli_exit_codes(clean_dir, capsys):
    assert main(["validate-data", str(clean_dir)]) == 0
    assert "OK" in capsys.readouterr().out
    (clean_dir / "utt2spk").write_text("B-3 B\nb-2 b\n")
    assert main(["validate-data", str(clean_dir)]) == 2
    out = capsys.readouterr().out
    assert "wav.scp:2: id 'a-1' is missing from utt2spk" in out
    assert main(["validate-data", str(clean_dir / "nope")]) == 2
