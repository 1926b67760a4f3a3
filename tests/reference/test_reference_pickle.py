"""The allow-list checkpoint reader: loads the reference fixture, which ``torch.load`` with
``weights_only=True`` refuses, and never runs anything a pickle asks for."""

from __future__ import annotations

import argparse
import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from simvq_audio.cli import main
from simvq_audio.errors import UserInputError
from simvq_audio.reference.safe_pickle import (
    Placeholder,
    StoredTensor,
    TorchCheckpoint,
    iter_placeholders,
    load_checkpoint,
)

from repo_paths import FIXTURES

FIXTURE = FIXTURES / "reference" / "simvq_small.ckpt"


class RunsCommand:
    """Unpickling this with ``pickle`` runs ``os.system(command)``."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class ExecsCode:
    """Unpickling this with ``pickle`` runs ``exec(code)``."""

    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return exec, (self.code,)


class TouchesOnSetstate:
    """Pickled as NEWOBJ + BUILD; the real class would create ``marker`` in ``__setstate__``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __setstate__(self, state):
        Path(state["marker"]).touch()


class Settings(dict):
    """A dict subclass (pickled as NEWOBJ + SETITEMS), like Lightning's AttributeDict."""


class Steps(list):
    """A list subclass (pickled as NEWOBJ + APPENDS)."""


def torch_zip(path: Path, data_pkl: bytes, storages: dict[str, bytes] | None = None) -> Path:
    """A file in ``torch.save``'s zip layout around the given ``data.pkl``."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
        for key, raw in (storages or {}).items():
            archive.writestr(f"archive/data/{key}", raw)
        archive.writestr("archive/version", "3\n")
    return path


def cli(args: list[str], capsys) -> tuple[int, list[str]]:
    code = main(args)
    return code, capsys.readouterr().err.strip().splitlines()


def test_torch_weights_only_refuses_the_fixture_and_our_reader_loads_it():
    with pytest.raises(pickle.UnpicklingError, match="omegaconf"):
        torch.load(FIXTURE, weights_only=True)
    root = load_checkpoint(FIXTURE)
    assert (root["epoch"], root["global_step"]) == (49, 138600)
    state = root["state_dict"]
    assert len(state) == 398 and all(isinstance(t, torch.Tensor) for t in state.values())
    assert torch.equal(state["head.istft.window"], torch.hann_window(1280))
    assert state["model_ema.decay"].dtype == torch.float32
    assert float(state["model_ema.decay"]) == pytest.approx(0.999)
    assert state["model_ema.num_updates"].dtype == torch.int32
    assert int(state["model_ema.num_updates"]) == -1
    assert state["encoder.model.0.conv.conv.weight_v"].shape == (4, 1, 7)
    quantconfig = root["hyper_parameters"]["quantconfig"]
    assert isinstance(quantconfig, Placeholder)
    assert quantconfig.global_name == "omegaconf.dictconfig.DictConfig"
    assert quantconfig.state["_content"]["params"]["n_e"] == 1024
    assert [p.global_name for p in iter_placeholders(root)] == ["omegaconf.dictconfig.DictConfig"]


def test_tensors_are_read_only_when_asked():
    with TorchCheckpoint(FIXTURE) as checkpoint:
        stored = checkpoint.root["state_dict"]["quantize.embedding.weight"]
        assert isinstance(stored, StoredTensor)
        assert (stored.dtype, stored.shape) == (torch.float32, torch.Size([1024, 64]))
        kth = checkpoint.root["callbacks"]
        assert isinstance(next(iter(kth.values()))["kth_value"], StoredTensor)
        codebook = stored.load()
    assert codebook.shape == (1024, 64) and codebook.std().item() == pytest.approx(64 ** -0.5,
                                                                                     rel=0.05)


def test_plain_objects_load_inertly(tmp_path):
    marker = tmp_path / "marker"
    data = pickle.dumps({"args": argparse.Namespace(lr=1e-4), "obj": TouchesOnSetstate(str(marker)),
                         "weights": [1, 2]}, protocol=2)
    root = TorchCheckpoint(torch_zip(tmp_path / "plain.ckpt", data)).root
    assert not marker.exists()
    assert root["args"].global_name == "argparse.Namespace" and root["args"].state == {"lr": 1e-4}
    assert root["obj"].state == {"marker": str(marker)} and root["weights"] == [1, 2]
    assert "inert" in repr(root["obj"])


def test_dict_and_list_subclasses_keep_their_content(tmp_path):
    data = pickle.dumps({"hparams": Settings(sample_rate=24000), "steps": Steps([1, 2, 3])},
                        protocol=2)
    root = TorchCheckpoint(torch_zip(tmp_path / "plain.ckpt", data)).root
    assert root["hparams"].global_name.endswith("Settings")
    assert root["hparams"].items == {"sample_rate": 24000}
    assert root["steps"].values == [1, 2, 3]


def _malicious_pickles(marker: Path) -> dict[str, bytes]:
    command = f"touch {marker}"
    return {
        "os.system protocol 2": pickle.dumps({"state_dict": RunsCommand(command)}, protocol=2),
        "os.system protocol 0": pickle.dumps(RunsCommand(command), protocol=0),
        "os.system protocol 4": pickle.dumps([1, RunsCommand(command)], protocol=4),
        "exec": pickle.dumps(ExecsCode(f"open({str(marker)!r}, 'w').close()"), protocol=2),
        "INST opcode": f"(S'{command}'\nios\nsystem\n.".encode(),
        "OBJ opcode": f"(cos\nsystem\nS'{command}'\no.".encode(),
    }


@pytest.mark.parametrize("kind", list(_malicious_pickles(Path("m"))))
def test_malicious_pickle_in_a_torch_zip_is_refused(kind, tmp_path, capsys):
    marker = tmp_path / "marker"
    ckpt = torch_zip(tmp_path / "evil.ckpt", _malicious_pickles(marker)[kind])
    out = tmp_path / "out" / "model"
    with pytest.raises(UserInputError, match=r"refusing to load .*: it asks to call "
                                             r"(posix\.system|os\.system|builtins\.exec)"):
        TorchCheckpoint(ckpt)
    code, lines = cli(["import-reference", str(ckpt), str(out)], capsys)
    assert code == 2 and len(lines) == 1 and "refusing to load" in lines[0]
    assert not marker.exists() and not out.exists() and not out.parent.exists()


def test_malicious_torch_save_is_refused(tmp_path, capsys):
    marker = tmp_path / "marker"
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"x": torch.zeros(2)}, "hook": RunsCommand(f"touch {marker}")},
               ckpt)
    code, lines = cli(["import-reference", str(ckpt), str(tmp_path / "model")], capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].endswith("it asks to call posix.system (only tensors and plain containers "
                             "are loaded from a checkpoint)")
    assert not marker.exists() and not (tmp_path / "model").exists()


def test_malicious_raw_pickle_is_refused(tmp_path, capsys):
    marker = tmp_path / "marker"
    ckpt = tmp_path / "evil.ckpt"
    ckpt.write_bytes(pickle.dumps(RunsCommand(f"touch {marker}"), protocol=2))
    code, lines = cli(["import-reference", str(ckpt), str(tmp_path / "model")], capsys)
    assert code == 2 and len(lines) == 1 and "is a raw pickle" in lines[0]
    assert not marker.exists() and not (tmp_path / "model").exists()


def test_malicious_pickle_is_refused_by_the_installed_command(tmp_path):
    """The same through the ``simvq-audio`` process: exit 2, one line on stderr."""
    marker = tmp_path / "marker"
    ckpt = torch_zip(tmp_path / "evil.ckpt",
                     pickle.dumps({"x": RunsCommand(f"touch {marker}")}, protocol=2))
    result = subprocess.run([sys.executable, "-m", "simvq_audio.cli", "import-reference",
                             str(ckpt), str(tmp_path / "model")], capture_output=True, text=True)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "it asks to call posix.system" in result.stderr
    assert not marker.exists() and not (tmp_path / "model").exists()


def test_legacy_and_foreign_files_are_refused(tmp_path):
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    empty = tmp_path / "empty.ckpt"
    empty.touch()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(FIXTURE.read_bytes()[:100_000])
    no_pickle = tmp_path / "other.zip"
    with zipfile.ZipFile(no_pickle, "w") as archive:
        archive.writestr("readme.txt", "hi")
    cases = [(legacy, "legacy \\(pre-1.6, non-zip\\) torch file"),
             (text, "is not a torch checkpoint \\(not a zip archive\\)"), (empty, "is empty"),
             (truncated, "damaged or truncated zip"), (no_pickle, "no single <name>/data.pkl"),
             (tmp_path / "missing.ckpt", "does not exist"), (tmp_path, "is not a file")]
    for path, message in cases:
        with pytest.raises(UserInputError, match=message):
            TorchCheckpoint(path)


def test_storage_problems_are_refused(tmp_path):
    buffer = io.BytesIO()
    torch.save({"w": torch.arange(6, dtype=torch.float32)}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    storage = next(name for name in entries if "/data/" in name)
    short = dict(entries, **{storage: entries[storage][:8]})
    bad = tmp_path / "short.ckpt"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, raw in short.items():
            archive.writestr(name, raw)
    with pytest.raises(UserInputError, match="holds 8 bytes, the pickle says 6 x torch.float32"):
        TorchCheckpoint(bad)
    big_endian = tmp_path / "big.ckpt"
    with zipfile.ZipFile(big_endian, "w") as archive:
        for name, raw in entries.items():
            archive.writestr(name, b"big" if name.endswith("/byteorder") else raw)
    with pytest.raises(UserInputError, match="big-endian"):
        TorchCheckpoint(big_endian)


def test_a_tensor_past_its_storage_is_refused(tmp_path):
    # _rebuild_tensor_v2(<storage ('storage', FloatStorage, '0', 'cpu', 2)>, offset 1,
    # size (4,), stride (1,), False, OrderedDict())
    data = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n("
            b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
            b"K\x02tQK\x01K\x04\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR.")
    ckpt = torch_zip(tmp_path / "past.ckpt", data, {"0": bytes(8)})
    with pytest.raises(UserInputError, match=r"size \[4\] reaches past the end of storage 0"):
        TorchCheckpoint(ckpt)


def test_a_pickle_cannot_change_the_allow_listed_objects(tmp_path):
    """BUILD on an allow-listed global (here: set FloatStorage's dtype) fails and changes
    nothing for later loads."""
    data = (b"\x80\x02ctorch\nFloatStorage\n"
            b"N}X\x05\x00\x00\x00dtypectorch\nfloat64\ns\x86b.")
    with pytest.raises(UserInputError, match="cannot unpickle"):
        TorchCheckpoint(torch_zip(tmp_path / "build.ckpt", data))
    data = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n"
            b"N}X\x08\x00\x00\x00_functionctorch\nSize\ns\x86b.")
    with pytest.raises(UserInputError, match="cannot unpickle"):
        TorchCheckpoint(torch_zip(tmp_path / "build2.ckpt", data))
    with TorchCheckpoint(FIXTURE) as checkpoint:
        assert checkpoint.root["state_dict"]["head.out.bias"].dtype == torch.float32
