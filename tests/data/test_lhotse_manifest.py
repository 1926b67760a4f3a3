"""Lhotse manifests as tokenize input: the manifests the real lhotse 1.33.0 wrote
(lhotse_fixtures/, see its README.md), every refusal with its file, line and id, and the limits
(gzip bombs among them)."""

import copy
import gzip
import json
import os
import shutil
import tempfile
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simvq_audio.data import lhotse_manifest
from simvq_audio.data.kaldi_dir import Utterance
from simvq_audio.data.lhotse_manifest import read_lhotse_manifests
from simvq_audio.errors import UserInputError

FIXTURES = Path(__file__).parent / "lhotse_fixtures"
LABELS = {  # id: (seconds, speaker, text, language), as make_fixtures.py made them
    "rec-B": (0.15, "spk1", "good morning", "en"),   # two supervisions, given later one first
    "rec-a": (0.1, "spk1", "hello world", "en"),
    "rec-c": (0.1, None, "left right", "fr"),        # stereo, one speaker per channel
    "rec-d": (0.05, None, None, None),               # no supervision
}


def expected(folder: Path, labelled: bool = True) -> list[Utterance]:
    """The fixture's utterances, their files in ``folder``, in byte order ('B' < 'a')."""
    return [Utterance(utt_id, folder / f"{utt_id}.wav", seconds,
                      *((speaker, text, language) if labelled else (None, None, None)))
            for utt_id, (seconds, speaker, text, language) in LABELS.items()]


def records(name: str) -> list[dict]:
    """The records of the fixture manifest ``name`` (``cuts``, ``recordings``, ...)."""
    with gzip.open(FIXTURES / f"{name}.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def write_jsonl(path: Path, lines: list) -> Path:
    """``lines`` (records, or raw text for damaged lines) as a plain JSON lines file."""
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                   for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


def refusal(paths: list, *fragments: str) -> str:
    """The message of the one UserInputError that reading ``paths`` raises; it names each of
    ``fragments``."""
    with pytest.raises(UserInputError) as caught:
        read_lhotse_manifests(paths)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


@pytest.fixture
def in_fixtures(monkeypatch):
    """Run from the fixture folder, where the manifests' relative paths point."""
    monkeypatch.chdir(FIXTURES)


def test_cut_manifest_gives_one_utterance_per_recording(in_fixtures):
    utterances = read_lhotse_manifests(["cuts.jsonl.gz"])
    assert [utt.utt_id for utt in utterances] == list(LABELS)
    for utt, want in zip(utterances, expected(FIXTURES)):
        assert utt.path.is_absolute() and utt.path.is_file()
        assert utt.duration == pytest.approx(want.duration, abs=1e-9)
        assert (utt.path, utt.speaker, utt.text, utt.language) == (
            want.path, want.speaker, want.text, want.language)


@pytest.mark.parametrize("order", [("recordings", "supervisions"),
                                   ("supervisions", "recordings")])
def test_recordings_with_supervisions_equal_the_cuts(in_fixtures, order):
    utterances = read_lhotse_manifests([f"{name}.jsonl.gz" for name in order])
    assert utterances == read_lhotse_manifests(["cuts.jsonl.gz"]) == expected(FIXTURES)


def test_recordings_alone_have_no_labels(in_fixtures):
    assert read_lhotse_manifests([Path("recordings.jsonl.gz")]) == expected(FIXTURES, False)


def test_recordings_without_channel_ids_use_their_source_channels(tmp_path, in_fixtures):
    recordings = records("recordings")   # channel_ids may be left out (lhotse derives it)
    for recording in recordings:
        del recording["channel_ids"]
    cuts = records("cuts")
    for cut in cuts:
        del cut["recording"]["channel_ids"]
    assert read_lhotse_manifests([write_jsonl(tmp_path / "r.jsonl", recordings)]) == \
        expected(FIXTURES, False)
    assert read_lhotse_manifests([write_jsonl(tmp_path / "c.jsonl", cuts)]) == expected(FIXTURES)


def test_relative_paths_resolve_against_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    utterances = read_lhotse_manifests([FIXTURES / "cuts.jsonl.gz"])
    assert utterances == expected(tmp_path)
    cut = records("cuts")[0]
    cut["recording"]["sources"][0]["source"] = "/elsewhere/a.wav"
    [utt] = read_lhotse_manifests([write_jsonl(tmp_path / "m.jsonl", [cut])])
    assert utt.path == Path("/elsewhere/a.wav")


def test_compression_is_told_from_the_content_not_the_name(tmp_path, in_fixtures):
    plain = write_jsonl(tmp_path / "cuts.jsonl.gz", records("cuts"))
    zipped = shutil.copy(FIXTURES / "cuts.jsonl.gz", tmp_path / "cuts.jsonl")
    assert read_lhotse_manifests([plain]) == read_lhotse_manifests([zipped]) == \
        expected(FIXTURES)


@pytest.mark.parametrize("name, cut_id, fragment", [
    ("segment", "rec-a-first-50ms", "spans 0 s to 0.05 s of recording 'rec-a'"),
    ("mixed", "rec-a-padded", "'MixedCut'"),
    ("channel", "rec-c-left-channel", "uses channel(s) [0] of recording 'rec-c'"),
    ("perturbed", "rec-a-0_sp1.1", "has transforms"),
])
def test_cuts_that_are_not_whole_files_lhotse_made_are_refused(in_fixtures, name, cut_id,
                                                               fragment):
    refusal([f"{name}.jsonl.gz"], f"{name}.jsonl.gz:2: cut '{cut_id}'", fragment,
            "CutSet.save_audios")


def _source(kind):
    def edit(cut):
        cut["recording"]["sources"][0]["type"] = kind
    return edit


def _set(key, value):
    def edit(cut):
        cut[key] = value
    return edit


def _second_source(cut):
    cut["recording"]["sources"].append(dict(cut["recording"]["sources"][0], channels=[1]))


def _features_only(cut):
    del cut["recording"]
    cut["features"] = {"type": "kaldi-fbank", "num_frames": 10, "num_features": 80}


def _later_start(cut):
    cut["start"], cut["duration"] = 0.05, 0.05


CUT_EDITS = {  # the second cut (rec-B-1) of cuts.jsonl.gz edited: (edit, what the message says)
    "url": (_source("url"), "is read from a 'url' source, not a file"),
    "command": (_source("command"), "'command' source"),
    "memory": (_source("memory"), "'memory' source"),
    "shar": (_source("shar"), "'shar' source"),
    "two sources": (_second_source, "has 2 audio sources"),
    "features only": (_features_only, "has features but no recording"),
    "padding": (_set("type", "PaddingCut"), "'PaddingCut' (padding)"),
    "later start": (_later_start, "spans 0.05 s to 0.1 s"),
    "shorter by 2 ms": (_set("duration", 0.148), "spans 0 s to 0.148 s"),
    "no duration": (_set("duration", None), "'duration' must be a number, not null"),
    "channel list": (_set("channel", [0, 1]), "uses channel(s) [0, 1]"),
    "bad supervision": (_set("supervisions", [{"id": "s", "start": 0, "text": 3}]),
                        "supervision 0: 'text' must be a string or null, not a number"),
}


@pytest.mark.parametrize("case", CUT_EDITS)
def test_edited_cuts_are_refused_naming_file_line_and_id(tmp_path, case):
    edit, fragment = CUT_EDITS[case]
    cuts = records("cuts")
    edit(cuts[1])
    manifest = write_jsonl(tmp_path / "edited.jsonl", cuts)
    refusal([manifest], f"{manifest}:2: cut 'rec-B-1': ", fragment)


def test_a_cut_within_a_millisecond_of_its_recording_is_whole(tmp_path):
    cuts = records("cuts")
    cuts[1]["start"], cuts[1]["duration"] = 0.0004, 0.1492
    assert [utt.utt_id for utt in read_lhotse_manifests([write_jsonl(tmp_path / "m", cuts)])
            ] == list(LABELS)


def test_damaged_lines_and_repeated_ids_are_refused(tmp_path):
    cuts = records("cuts")
    cases = [
        ([cuts[0], "[1, 2]"], ":2: a list, not a JSON object"),
        ([cuts[0], ""], ":2: a blank line"),
        ([cuts[0], '{"id": "x", "type": '], ":2: not valid JSON"),
        ([json.dumps(cuts[0]).replace('"start": 0', '"start": NaN', 1)],
         ":1: holds NaN, which is not"),
        ([json.dumps(cuts[0]).replace('"start": 0', '"start": 1' + "0" * 40, 1)],
         ":1: holds an integer of 41 digits"),
        ([cuts[0], {"id": "x"}], ":2: not a lhotse cut, recording or supervision"),
        ([cuts[0], records("recordings")[0]], ":2: a recording, but line 1 is a cut"),
        ([cuts[0], dict(cuts[0], id="other")],
         ":2: cut 'other' spans recording 'rec-a', as the cut on line 1 does"),
        ([{**cuts[0], "recording": {**cuts[0]["recording"], "id": "rec a"}}],
         ":1: cut 'rec-a-0': recording 'rec a': the recording id 'rec a' is empty or holds "
         "whitespace"),
        ([json.dumps(cuts[0]).replace('"id": "rec-a"', '"id": "rec-\\ud800"')],
         ":1: cut 'rec-a-0': recording 'rec-\\ud800': 'id' holds an unpaired"),
    ]
    for lines, fragment in cases:
        manifest = write_jsonl(tmp_path / "m.jsonl", lines)
        refusal([manifest], f"{manifest}{fragment}")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    refusal([tmp_path / "empty.jsonl"], "empty.jsonl: holds no records")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"id": "caf\xe9"}\n')
    refusal([tmp_path / "latin1.jsonl"], "latin1.jsonl:1: not valid JSON (not UTF-8 text)")


def test_recording_and_supervision_manifests_must_match(tmp_path):
    recordings, supervisions = records("recordings"), records("supervisions")
    rec_path = write_jsonl(tmp_path / "r.jsonl", recordings[:2])
    sup_path = write_jsonl(tmp_path / "s.jsonl", supervisions)
    refusal([rec_path, sup_path], f"{sup_path}:4: supervision 'rec-c-left' names recording "
            f"'rec-c', which {rec_path} does not hold")
    refusal([write_jsonl(tmp_path / "r2.jsonl", recordings + [recordings[0]])],
            "r2.jsonl:5: recording 'rec-a' again (first on line 1)")
    refusal([rec_path, write_jsonl(tmp_path / "s2.jsonl", supervisions[:1] * 2)],
            "s2.jsonl:2: supervision 'rec-a-s' again")
    refusal([write_jsonl(tmp_path / "s3.jsonl", [dict(supervisions[0], speaker=["x"])]),
             rec_path], "s3.jsonl:1: supervision 'rec-a-s': 'speaker' must be a string or null")
    refusal([rec_path, write_jsonl(tmp_path / "s4.jsonl", [dict(supervisions[0], start="0")])],
            "s4.jsonl:1: supervision 'rec-a-s': 'start' must be a number, not a string")
    refusal([rec_path, FIXTURES / "cuts.jsonl.gz"], "holds recordings", "holds cuts")
    refusal([FIXTURES / "supervisions.jsonl.gz"], "holds supervisions; give one CutSet")
    refusal([rec_path, rec_path], "both hold recordings")
    refusal([], "(got 0 files)")
    refusal([rec_path] * 3, "(got 3 files)")


def test_files_that_are_not_regular_are_refused_unread(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    refusal([tmp_path / "fifo"], "not a regular file")
    refusal([tmp_path / "missing.jsonl"], "missing.jsonl: no such lhotse manifest")


def test_line_count_line_length_and_file_size_are_bounded(tmp_path, monkeypatch):
    manifest = write_jsonl(tmp_path / "cuts.jsonl", records("cuts"))
    monkeypatch.setattr(lhotse_manifest, "MAX_LINES", 3)
    refusal([manifest], "cuts.jsonl: more than 3 lines")
    monkeypatch.setattr(lhotse_manifest, "MAX_LINES", 4)
    assert len(read_lhotse_manifests([manifest])) == 4
    lengths = [len(line) for line in manifest.read_bytes().splitlines()]
    longest = max(lengths)
    monkeypatch.setattr(lhotse_manifest, "MAX_LINE_BYTES", longest - 1)
    refusal([manifest], f"cuts.jsonl:{1 + lengths.index(longest)}: a line longer than")
    monkeypatch.setattr(lhotse_manifest, "MAX_LINE_BYTES", longest)
    assert len(read_lhotse_manifests([manifest])) == 4
    monkeypatch.setattr(lhotse_manifest, "MAX_MANIFEST_BYTES", manifest.stat().st_size - 1)
    refusal([manifest], f"cuts.jsonl: {manifest.stat().st_size} bytes, larger than")


def _gzip(chunks) -> bytes:
    """The gzip file of the concatenated ``chunks``, compressed piece by piece."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join([*(compressor.compress(chunk) for chunk in chunks), compressor.flush()])


def test_a_gzip_bomb_is_refused_in_bounded_memory(tmp_path):
    first = json.dumps(records("cuts")[0]).encode() + b"\n"
    zeros = bytes(1 << 20)
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(_gzip([first, *[zeros] * 256]))   # 256 MiB inflated
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        refusal([bomb], "bomb.jsonl.gz:2: a line longer than 1048576 bytes")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak


def test_inflated_text_is_capped(tmp_path, monkeypatch):
    recording = records("recordings")[0]
    lines = [json.dumps(dict(recording, id=f"rec-{index:06d}")).encode() + b"\n"
             for index in range(20_000)]   # about 3.5 MB of distinct, valid records
    manifest = tmp_path / "recordings.jsonl.gz"
    manifest.write_bytes(_gzip(lines))
    monkeypatch.setattr(lhotse_manifest, "MAX_MANIFEST_BYTES", 1 << 20)
    assert manifest.stat().st_size < 1 << 20
    refusal([manifest], "recordings.jsonl.gz: inflates to more than 1048576 bytes of text")


def test_damaged_gzip_is_refused(tmp_path):
    data = (FIXTURES / "cuts.jsonl.gz").read_bytes()
    (tmp_path / "cut-short.gz").write_bytes(data[:-20])
    refusal([tmp_path / "cut-short.gz"], "cut-short.gz: damaged gzip data")
    (tmp_path / "flipped.gz").write_bytes(data[:40] + bytes([data[40] ^ 0xFF]) + data[41:])
    refusal([tmp_path / "flipped.gz"], "flipped.gz")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6)


def _mutate(data, record):
    """``record`` with one value somewhere inside replaced by an arbitrary JSON value, or
    deleted."""
    record = copy.deepcopy(record)
    parent, key = None, None
    value = record
    while isinstance(value, (dict, list)) and value and (
            parent is None or data.draw(st.booleans())):
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        parent, key = value, data.draw(st.sampled_from(keys))
        value = parent[key]
    if parent is None:
        return data.draw(JSON_VALUES)
    if data.draw(st.booleans()):
        parent[key] = data.draw(JSON_VALUES)
    else:
        del parent[key]
    return record


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_manifests_raise_nothing_but_user_input_errors(data):
    kind = data.draw(st.sampled_from(["cuts", "recordings"]))
    lines = records(kind)
    index = data.draw(st.integers(0, len(lines) - 1))
    damage = data.draw(st.sampled_from(["mutate", "json", "bytes"]))
    if damage == "mutate":
        text = json.dumps(_mutate(data, lines[index])).encode()
    elif damage == "json":
        text = json.dumps(data.draw(JSON_VALUES)).encode()
    else:
        text = data.draw(st.binary(max_size=40))
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines[:index]) + text + b"\n"
    compress = data.draw(st.booleans())
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / "m.jsonl"
        manifest.write_bytes(gzip.compress(body) if compress else body)
        try:
            utterances = read_lhotse_manifests([manifest])
        except UserInputError as error:
            assert "m.jsonl" in str(error)
        else:
            assert all(utt.path.is_absolute() and utt.duration > 0 for utt in utterances)
