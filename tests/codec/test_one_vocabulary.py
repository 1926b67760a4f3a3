"""Issue 25 section 3, "One vocabulary": one rule for batch shapes, help texts and messages made
from the same constants, and import-reference messages and provenance that say what they mean.
Each docstring says what happened before."""

import json
import shutil

import numpy as np
import pytest
import torch

from simvq_audio.cli import build_parser, main
from simvq_audio.codec import SimVQCodec
from simvq_audio.data.audio_formats import OUTPUT_FORMATS
from simvq_audio.data.audio_io import audio_bytes, output_format
from simvq_audio.errors import UserInputError
from simvq_audio.reference import import_reference_checkpoint
from simvq_audio.validate import SHAPE_RULE

from hostile_helpers import cli, error_line, tiny_model, wav_file
from repo_paths import FIXTURES

REFERENCE = FIXTURES / "reference" / "simvq_small.ckpt"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory)


def _help(capsys, *args: str) -> str:
    """The ``--help`` text of ``simvq-audio ARGS``, with its line wrapping undone."""
    with pytest.raises(SystemExit):
        main([*args, "--help"])
    return " ".join(capsys.readouterr().out.split())


# -- 1. one rule for batches ---------------------------------------------------------------------
def test_a_2d_batch_with_lengths_is_mono_signals(model):
    """Before: ``encode(wav [B, T], sr, lengths=[...])`` read ``[B, T]`` as the channels of one
    signal and failed with "lengths must hold 1 integer(s)"."""
    codec, _ = model
    sizes = [9000, 4321, 700]
    batch = torch.randn(len(sizes), max(sizes)) * 0.1
    for row, size in enumerate(sizes):
        batch[row, size:] = 3.0  # padding must not matter
    tokens = codec.encode(batch, 16000, lengths=sizes)
    as_channels = codec.encode(batch[:, None], 16000, lengths=sizes)
    assert torch.equal(tokens.ids, as_channels.ids)
    assert torch.equal(tokens.lengths, as_channels.lengths)
    for row, size in enumerate(sizes):
        alone = codec.encode(batch[row, :size], 16000)
        assert torch.equal(tokens[row].ids, alone.ids)
    assert torch.equal(codec.encode(batch.numpy(), 16000, lengths=np.array(sizes)).ids,
                       tokens.ids)


def test_other_layouts_keep_their_meaning(model):
    """``[C, T]`` without lengths is still one signal's channels (averaged), ``[T, C]`` is still
    channels-last, ``[T]`` with lengths is one item."""
    codec, _ = model
    stereo = torch.randn(2, 4000) * 0.1
    mono = codec.encode(stereo.mean(dim=0), 24000).ids
    assert torch.equal(codec.encode(stereo, 24000).ids, mono)
    assert torch.equal(codec.encode(stereo.T.contiguous(), 24000).ids, mono)
    assert torch.equal(codec.encode(stereo[0], 24000, lengths=[4000]).ids,
                       codec.encode(stereo[0], 24000).ids)


@pytest.mark.parametrize("call", [
    pytest.param(lambda c: c.encode(np.zeros((40, 2), np.float32), 24000), id="ambiguous axes"),
    pytest.param(lambda c: c.encode(torch.zeros(4, 4), 24000), id="square"),
    pytest.param(lambda c: c.encode(torch.zeros(2, 3000), 24000, lengths=[3000]),
                 id="lengths of the wrong batch"),
    pytest.param(lambda c: c.encode(torch.zeros(1, 1, 1, 100), 24000), id="4-D wav"),
    pytest.param(lambda c: c.decode(torch.zeros(1, 2, 3, dtype=torch.long)), id="3-D ids"),
    pytest.param(lambda c: c.decode(torch.zeros(2, 3, dtype=torch.long), lengths=[3]),
                 id="ids lengths of the wrong batch"),
    pytest.param(lambda c: c.streaming_encoder(batch_size=2).feed(torch.zeros(3, 320)),
                 id="stream feed"),
    pytest.param(lambda c: c.streaming_decoder(batch_size=2).feed(
        torch.zeros(3, 4, dtype=torch.long)), id="stream decoder feed"),
])
def test_every_refused_shape_states_the_one_rule(model, call):
    """Before: each entry point had its own wording ("wav must be [T], [C, T] or [B, C, T]",
    "cannot tell channels from time ...: pass [C, T]", "feed expects samples [T] or [2, T]",
    "lengths must hold 1 integer(s)"), none saying that ``[B, T]`` with lengths is a batch."""
    codec, _ = model
    with pytest.raises(UserInputError) as caught:
        call(codec)
    assert str(caught.value).endswith(SHAPE_RULE)
    assert "mono signals [B, T] when lengths [B]" in SHAPE_RULE


# -- 2. help and messages from the same constants ------------------------------------------------
def test_decode_help_names_every_format_the_writer_accepts(capsys):
    """Before: decode's summary said "into wav files" and its OUT help left out ``.oga``, which
    the writer and its error message accept."""
    text = _help(capsys, "decode")
    assert "into wav files" not in text and "decode .codes files into audio files" in text
    for suffix in OUTPUT_FORMATS:
        assert suffix in text, suffix
        assert audio_bytes(torch.zeros(2400), 24000, suffix)  # the writer takes it
    with pytest.raises(UserInputError) as caught:
        output_format("x.aiff")
    for suffix in OUTPUT_FORMATS:
        assert suffix in str(caught.value)
    assert "decode .codes files into audio files" in _help(capsys)


def test_the_model_mismatch_message_names_any_model(model, tmp_path, tmp_path_factory, capsys):
    """Before: "force it (--force, or force=True)", while decode's help calls --force the old
    name of --any-model (and image decode took --force only)."""
    _, path = model
    _, other = tiny_model(tmp_path_factory, seed=5)
    assert cli("encode", "--model", path, wav_file(tmp_path / "a.wav"), tmp_path / "x.codes") == 0
    assert cli("decode", "--model", other, tmp_path / "x.codes", tmp_path / "x.wav") == 2
    line = error_line(capsys)
    assert "--any-model" in line and "--force" not in line
    assert "--any-model" in _help(capsys, "decode")
    image = build_parser().parse_args(
        ["image", "decode", "--model", "m", "--any-model", "a", "b"])
    assert image.force


def test_utmos_checkpoint_help_and_message_agree(capsys, monkeypatch, tmp_path):
    """Before: the issue saw the help say "not implemented yet" and the summary "no local
    checkpoint given"; the help since named the default file but not how to get it
    (--allow-download) nor what 'auto' does without it. Now both name the file and remedies."""
    from simvq_audio.metrics import utmos
    from simvq_audio.metrics.scorers import ScorerOptions, ScorerUnavailable

    text = _help(capsys, "score")
    option = text[text.rindex("--utmos-checkpoint UTMOS_CHECKPOINT"):][:400]
    assert utmos.CHECKPOINT_NAME in option and "--allow-download" in option
    assert "not implemented" not in option
    monkeypatch.setattr(utmos, "default_checkpoint", lambda: tmp_path / utmos.CHECKPOINT_NAME)
    with pytest.raises(ScorerUnavailable) as caught:
        utmos.find_checkpoint(ScorerOptions())
    message = str(caught.value)
    assert utmos.CHECKPOINT_NAME in message and "--utmos-checkpoint" in message
    assert "--allow-download" in message


# -- 3. import-reference -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    return import_reference_checkpoint(REFERENCE, tmp_path_factory.mktemp("ref") / "model")


def test_raw_over_an_ema_import_says_what_differs(imported, tmp_path, capsys):
    """Before: ``import-reference --raw`` into the directory this command had written from the
    same file with EMA weights was refused as holding files "that this command did not write
    from this input"."""
    out = tmp_path / "model"
    shutil.copytree(imported, out)
    assert cli("import-reference", REFERENCE, out, "--raw") == 2
    line = error_line(capsys)
    assert "did not write" not in line
    for text in ("holds the EMA weights of checkpoint 'simvq_small.ckpt'",
                 "asks for its raw weights", "another directory", "--overwrite"):
        assert text in line, text
    config = json.loads((out / "config.json").read_text())
    config["training"]["sha256"] = "0" * 64  # as if imported from another file
    (out / "config.json").write_text(json.dumps(config))
    assert cli("import-reference", REFERENCE, out) == 2
    line = error_line(capsys)
    assert "EMA weights of another checkpoint ('simvq_small.ckpt')" in line
    assert "asks for" not in line and "--overwrite" in line


def test_provenance_has_its_own_key_and_old_directories_still_load(imported, tmp_path):
    """Before: config.json stored ``training.sample_rate: "hyper_parameters.sample_rate"``, a
    note on where the rate came from under a name that reads as a value."""
    training = json.loads((imported / "config.json").read_text())["training"]
    assert training["sample_rate_from"] == "hyper_parameters.sample_rate"
    assert "sample_rate" not in training
    assert "24000 Hz (hyper_parameters.sample_rate)" in (imported / "README.md").read_text()
    old = tmp_path / "old"
    shutil.copytree(imported, old)
    config = json.loads((old / "config.json").read_text())
    config["training"]["sample_rate"] = config["training"].pop("sample_rate_from")
    (old / "config.json").write_text(json.dumps(config))
    new_codec, old_codec = SimVQCodec.from_pretrained(imported), SimVQCodec.from_pretrained(old)
    assert old_codec.model_hash == new_codec.model_hash
    wav = torch.randn(5000) * 0.1
    assert torch.equal(old_codec.encode(wav, 24000).ids, new_codec.encode(wav, 24000).ids)
    import_reference_checkpoint(REFERENCE, old)  # still recognised as this import: replaced
    assert json.loads((old / "config.json").read_text())["training"] == training
