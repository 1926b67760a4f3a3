"""Running the command line the way an attacker's file or an unlucky machine would meet it: in a
child process under an address-space limit, with the one-line refusal every fault must end in.

``run_limited`` starts ``python -m simvq_audio.cli ARGS`` with ``RLIMIT_AS`` set (default
1500 MiB: torch and the tiny model need about 700 MiB of address space), so a file that makes
the toolkit allocate gigabytes fails the test instead of taking the machine.
``assert_refused`` checks what the user sees: exit status 2 and exactly one short line
``simvq-audio: error: ...``, never a traceback, and not the CLI's last-resort "out of memory"
line (which under the limit means that memory was not bounded).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile
import torch

from simvq_audio.cli import main
from simvq_audio.codec import SimVQCodec

from repo_paths import REPO, TINY_RECIPE

MEMORY_LIMIT_MB = 1500
"""Address-space limit of the child: enough for torch and the tiny model, far below what the
hostile files made the toolkit take (2 to 22 GB)."""

MAX_MESSAGE = 400
"""Longest acceptable error line: messages quote values cut short, never a whole document."""

_LIMITED = """
import resource, sys
limit = int(sys.argv[1]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from simvq_audio.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_limited(*args: object, memory_mb: int = MEMORY_LIMIT_MB, stdin: bytes | int | None = None,
                timeout: float = 300, cwd: Path | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``simvq-audio ARGS`` in a child process limited to ``memory_mb`` MiB of address space.

    ``stdin`` is bytes to feed, an open file descriptor (``/dev/zero``, a FIFO), or ``None``
    (no standard input). Output is captured as text (undecodable bytes replaced)."""
    feed = stdin if isinstance(stdin, bytes) else None
    handle = stdin if isinstance(stdin, int) else (None if feed is not None
                                                   else subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-c", _LIMITED, str(memory_mb), *map(str, args)],
                          input=feed, stdin=handle, capture_output=True, timeout=timeout,
                          cwd=cwd or REPO, env={**os.environ, "OMP_NUM_THREADS": "1",
                                                **(env or {})})


def assert_refused(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Check that ``result`` is one clean refusal: exit status 2, stderr exactly one line
    ``simvq-audio: error: ...`` of at most :data:`MAX_MESSAGE` characters, containing each of
    ``fragments``; return that line."""
    err = result.stderr.decode("utf-8", "replace") if isinstance(result.stderr, bytes) \
        else result.stderr
    lines = err.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, (result.returncode, err[-3000:])
    line = lines[0]
    assert line.startswith("simvq-audio: error: ") and len(line) <= MAX_MESSAGE, line[:1000]
    assert "out of memory" not in line, "the memory limit was hit: memory is not bounded"
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def assert_main_refused(status: int, capsys, *fragments: str, progress: bool = False) -> str:
    """:func:`assert_refused` for ``main([...])`` run in this process: ``status`` is what it
    returned, ``capsys`` holds what it printed (read here). ``progress``: leave out the lines
    of a progress bar (``train``'s tqdm bar on stderr, each drawn after a carriage return)."""
    err = capsys.readouterr().err
    if progress:
        err = "\n".join(line for line in err.split("\n") if "\r" not in line)
    return assert_refused(subprocess.CompletedProcess([], status, "", err), *fragments)


def tiny_model(tmp_path_factory, seed: int = 0) -> tuple:
    """``(codec, model_dir)``: an untrained codec of the tiny recipe made with ``seed``,
    saved."""
    torch.manual_seed(seed)
    codec = SimVQCodec.from_config(TINY_RECIPE)
    return codec, codec.save_pretrained(tmp_path_factory.mktemp("m") / "model")


def wav_file(path: Path, seconds: float = 0.1, rate: int = 16000, channels: int = 1,
             seed: int = 1) -> Path:
    """A wav file of ``seconds`` of noise at ``rate`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).standard_normal((round(seconds * rate), channels)) * 0.1
    soundfile.write(path, data.astype(np.float32), rate)
    return path


def cli(*args: object) -> int:
    """``simvq-audio ARGS`` in this process: its exit status."""
    return main([str(arg) for arg in args])


def error_line(capsys) -> str:
    """The one error line that a refused ``cli`` call printed (checked to be one line)."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simvq-audio: error: "), lines
    return lines[0]
