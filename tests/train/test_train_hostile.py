"""Issue 24, training: a batch larger than the training set is refused before any batch is
built, a full disk is one line naming the folder and the reason (the earlier checkpoint stays
usable), and a checkpoint whose marker or documents are damaged or of the wrong types is skipped
with its reason, for an earlier complete one or a fresh start, never a traceback."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from simvq_audio import cli
from simvq_audio.train import checkpoint as ckpt

from hostile_helpers import assert_main_refused, assert_refused, run_limited
from repo_paths import REPO
from train_helpers import make_data_dir, subprocess_env, train_args, write_config

DEEP = "[" * 100_000 + "]" * 100_000
"""JSON nested 100000 deep: ``json.loads`` raises RecursionError."""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data_dir(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    """``(config, exp)``: a micro run of 4 steps with checkpoints at steps 2 and 4."""
    root = tmp_path_factory.mktemp("run")
    config = write_config(root / "c.yaml", max_steps=4, checkpoint_every=2)
    assert cli.main(train_args(config, data, root / "exp")) == 0
    return config, root / "exp"


def test_a_batch_larger_than_the_training_set_is_refused_in_bounded_memory(tmp_path, data):
    """Before: ``--batch-size 100000`` on 6 utterances built batches of 100000 crops repeating
    the data (20 utterances grew to 22 GB); under a 1500 MiB address-space limit the run died
    for lack of memory."""
    config = write_config(tmp_path / "c.yaml")
    assert_refused(run_limited(*train_args(config, data, tmp_path / "exp", "--batch-size",
                                           "100000")),
                   "train.batch_size (--batch-size) is 100000 per process, more than the 6 "
                   f"training items in {data}", "use at most 6")


def test_a_full_disk_is_one_line_and_the_earlier_checkpoint_resumes(trained, data, tmp_path,
                                                                    capsys):
    """Before: a checkpoint write failing for lack of room (here EFBIG from RLIMIT_FSIZE, in a
    child process) ended in a traceback from safetensors; the earlier checkpoint was intact
    and ``--resume`` worked, only the message was missing."""
    config, original = trained
    exp = tmp_path / "exp"
    shutil.copytree(original, exp)
    shutil.rmtree(ckpt.checkpoint_dir(exp, 4))
    limited = ("import resource, signal, sys\n"
               "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
               "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
               "from simvq_audio.cli import main\n"
               "sys.exit(main(sys.argv[1:]))\n")
    result = subprocess.run([sys.executable, "-c", limited,
                             *train_args(config, data, exp, "--resume")],
                            capture_output=True, env=subprocess_env(), cwd=REPO)
    result.stderr = "\n".join(line for line in result.stderr.decode().split("\n")
                              if "\r" not in line)  # without the progress bar
    assert_refused(result, f"cannot write the checkpoint of step 4 in {exp / 'checkpoints'}: "
                   "File too large", "earlier checkpoints are intact")
    assert [path.name for path in (exp / "checkpoints").iterdir()] == ["step_00000002"]
    assert ckpt.checkpoint_problem(ckpt.checkpoint_dir(exp, 2)) is None
    assert cli.main(train_args(config, data, exp, "--resume")) == 0
    assert f"resumed from {ckpt.checkpoint_dir(exp, 2)} at step 2" in capsys.readouterr().out
    assert ckpt.checkpoint_problem(ckpt.checkpoint_dir(exp, 4)) is None


def test_an_exp_dir_that_is_a_file_is_one_line(trained, data, tmp_path, capsys):
    """Before: only the CLI's last-resort line for a stray ``FileExistsError`` ("File exists:
    EXP"), not what could not be written."""
    config, _ = trained
    (tmp_path / "exp").write_text("not a folder")
    assert_main_refused(cli.main(train_args(config, data, tmp_path / "exp")), capsys,
                        f"cannot write {tmp_path / 'exp' / 'config.yaml'}")


def _reseal(path) -> None:
    """Rewrite the COMPLETE marker of the checkpoint ``path`` to match its files as they are
    now, as a checkpoint damaged before it was sealed (or crafted) would be."""
    files = {file.name: {"bytes": file.stat().st_size,
                         "sha256": hashlib.sha256(file.read_bytes()).hexdigest()}
             for file in sorted(path.iterdir()) if file.name != ckpt.MARKER}
    (path / ckpt.MARKER).write_text(json.dumps({"step": ckpt.checkpoint_step(path),
                                                "files": files}))


def _edit(name, change):
    """A damage: ``change(document)`` -> the new text (or bytes) of ``name``.json."""
    return name, change


def _with(**fields):
    return lambda document: json.dumps({**document, **fields})


DOCUMENT_DAMAGE = {
    "random bytes": _edit("trainer_state", lambda doc: bytes(range(256)) * 3),
    "truncated": _edit("trainer_state", lambda doc: json.dumps(doc)[:30]),
    "a list": _edit("trainer_state", lambda doc: json.dumps([doc])),
    "step as text": _edit("trainer_state", _with(step="4")),
    "another step": _edit("trainer_state", _with(step=3)),
    "a 100000-digit step": _edit("trainer_state", lambda doc: json.dumps(doc).replace(
        '"step": 4', '"step": ' + "9" * 100_000)),
    "sampler as a list": _edit("trainer_state", _with(sampler=[1, 2])),
    "negative bad steps": _edit("trainer_state", _with(bad_steps_total=-1)),
    "grad scaler as text": _edit("trainer_state", _with(grad_scaler="x")),
    "nested 100000 deep": _edit("trainer_state", lambda doc: json.dumps(doc).replace(
        '"saved_at": ', '"saved_at": ' + DEEP + ', "was": ')),
    "rng a mapping": _edit("rng", lambda doc: json.dumps({"python": 1})),
    "rng of wrong types": _edit("rng", lambda doc: json.dumps([{"__dict__": [
        ["python", "x"], ["numpy", 1], ["torch", None], ["cuda", []]]}])),
    "optimizer groups as text": _edit("optimizer_generator", lambda doc: json.dumps(
        {"__dict__": [["state", {"__dict__": []}], ["param_groups", "x"]]})),
    "optimizer state of a missing tensor": _edit("optimizer_generator", lambda doc: json.dumps(
        doc).replace('"__tensor__": "state.state.0.exp_avg"', '"__tensor__": "nowhere"')),
    "optimizer state of the wrong shape": _edit("optimizer_generator", lambda doc: json.dumps(
        doc).replace('"__tensor__": "state.state.0.exp_avg"',
                     '"__tensor__": "state.state.1.exp_avg"')),
    "generator weights random bytes": ("generator.safetensors", lambda doc: bytes(range(256))),
}


@pytest.mark.parametrize("name, change", DOCUMENT_DAMAGE.values(), ids=DOCUMENT_DAMAGE.keys())
def test_a_checkpoint_with_a_damaged_document_is_skipped_with_its_reason(
        trained, data, tmp_path, capsys, name, change):
    """Before: a checkpoint whose marker matched but whose trainer state, RNG or optimizer
    document was random bytes, nested 100000 deep or of the wrong types ended in a traceback
    (UnicodeDecodeError, RecursionError, TypeError, KeyError), or was restored as it was (the
    state of another step)."""
    config, original = trained
    exp = tmp_path / "exp"
    shutil.copytree(original, exp)
    newest = ckpt.checkpoint_dir(exp, 4)
    file = newest / (name if "." in name else f"{name}.json")
    text = change(json.loads(file.read_text()) if file.suffix == ".json" else None)
    file.write_bytes(text if isinstance(text, bytes) else text.encode())
    _reseal(newest)
    capsys.readouterr()
    assert cli.main(train_args(config, data, exp, "--resume", "--max-steps", "2")) == 0
    out = capsys.readouterr().out
    assert f"skipping checkpoint {newest}: " in out and "Traceback" not in out
    assert f"resumed from {ckpt.checkpoint_dir(exp, 2)} at step 2" in out


MARKER_DAMAGE = {
    "random bytes": bytes(range(256)) * 3,
    "a list": b"[]",
    "files as a list": b'{"step": 4, "files": ["generator.safetensors"]}',
    "no files": b'{"step": 4, "files": {}}',
    "a name outside the folder": b'{"step": 4, "files": {"../step_00000002/COMPLETE": {}}}',
    "nested 100000 deep": ('{"step": 4, "files": ' + DEEP + "}").encode(),
}


@pytest.mark.parametrize("content", MARKER_DAMAGE.values(), ids=MARKER_DAMAGE.keys())
def test_damaged_markers_fall_back_to_an_earlier_checkpoint_or_a_fresh_start(
        trained, data, tmp_path, capsys, content):
    """Before: a COMPLETE marker whose files were a list ended in an AttributeError traceback,
    one nested 100000 deep in a RecursionError; one naming files outside its folder was
    followed there."""
    config, original = trained
    exp = tmp_path / "exp"
    shutil.copytree(original, exp)
    (ckpt.checkpoint_dir(exp, 4) / ckpt.MARKER).write_bytes(content)
    capsys.readouterr()
    assert cli.main(train_args(config, data, exp, "--resume", "--max-steps", "2")) == 0
    out = capsys.readouterr().out
    assert f"skipping checkpoint {ckpt.checkpoint_dir(exp, 4)}: its COMPLETE marker is " \
           "damaged" in out
    assert f"resumed from {ckpt.checkpoint_dir(exp, 2)} at step 2" in out
    (ckpt.checkpoint_dir(exp, 2) / ckpt.MARKER).write_bytes(content)
    (ckpt.checkpoint_dir(exp, 4) / ckpt.MARKER).write_bytes(content)
    assert cli.main(train_args(config, data, exp, "--resume", "--max-steps", "1")) == 0
    out = capsys.readouterr().out
    assert f"no usable checkpoint in {exp / 'checkpoints'}: starting from step 0" in out
    assert ckpt.checkpoint_problem(ckpt.checkpoint_dir(exp, 1)) is None
