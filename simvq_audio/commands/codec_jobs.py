"""What ``simvq-audio encode`` and ``decode`` share: the model options, and turning IN/OUT into
jobs and running them.

IN/OUT forms:

* a file and a file (either may be ``-``: stdin/stdout; the output is overwritten);
* a directory and a directory: every matching file under IN, the tree kept under OUT;
* (encode) a Kaldi ``wav.scp`` and a directory: ``OUT/<utt-id>.codes`` per line.

With a directory or ``wav.scp``, files whose output exists are skipped (outputs are written
atomically, so an existing one is complete), a failure is recorded and the rest go on, and the
failures are listed at the end (exit status 1).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simvq_audio.errors import UserInputError

MODEL_ENV = "SIMVQ_AUDIO_MODEL"
STDIO = "-"


@dataclass
class Job:
    source: str
    """Input path, or ``-`` for stdin."""
    target: str
    """Output path, or ``-`` for stdout."""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=os.environ.get(MODEL_ENV),
                        help=f"model directory (config.json + model.safetensors); default: "
                        f"${MODEL_ENV}")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 "
                        "(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="files per batch in directory mode (default: %(default)s)")


def load_codec(args: argparse.Namespace):
    """The codec of ``--model`` on ``--device``; a clear error when none is given."""
    from simvq_audio.codec import SimVQCodec

    if not args.model:
        raise UserInputError(f"no model given: pass --model DIR or set {MODEL_ENV} to a model "
                             "directory (simvq-audio export writes one)")
    if args.batch_size < 1:
        raise UserInputError(f"--batch-size must be at least 1, got {args.batch_size}")
    try:
        import torch
        device = torch.device(args.device)
    except RuntimeError as error:
        raise UserInputError(f"--device {args.device!r}: {error}") from None
    return SimVQCodec.from_pretrained(args.model, device=device)


def plan_jobs(source: str, target: str, in_suffixes: tuple[str, ...], out_suffix: str,
              allow_scp: bool) -> tuple[list[Job], bool]:
    """``(jobs, many)``; ``many`` is directory / ``wav.scp`` mode."""
    source_path = Path(source)
    if source != STDIO and source_path.is_dir():
        _check_output_dir(target)
        files = sorted(p for p in source_path.rglob("*")
                       if p.is_file() and p.suffix.lower() in in_suffixes)
        return [Job(str(p), str(Path(target) / p.relative_to(source_path).with_suffix(out_suffix)))
                for p in files], True
    if allow_scp and source_path.name.endswith(".scp"):
        _check_output_dir(target)
        return [Job(path, str(Path(target) / f"{utt}{out_suffix}"))
                for utt, path in read_scp(source_path)], True
    if source != STDIO and not source_path.is_file():
        raise UserInputError(f"{source}: no such file or directory")
    return [Job(source, target)], False


def read_scp(path: Path) -> list[tuple[str, str]]:
    """``(utt-id, path)`` per line of a Kaldi ``wav.scp``."""
    if not path.is_file():
        raise UserInputError(f"{path}: no such file")
    entries, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split(maxsplit=1)
        if not parts:
            continue
        if len(parts) != 2 or parts[1].rstrip().endswith("|") or "/" in parts[0]:
            raise UserInputError(f"{path}:{number}: expected 'utt-id path' (no Kaldi pipes), "
                                 f"got {line!r}")
        if parts[0] in seen:
            raise UserInputError(f"{path}:{number}: duplicate utterance id {parts[0]!r}")
        seen.add(parts[0])
        entries.append((parts[0], parts[1].strip()))
    return entries


def run_jobs(jobs: list[Job], many: bool, batch_size: int,
             process: Callable[[list[Job]], list[str | None]], verb: str) -> int:
    """Run ``process`` on batches of jobs (it returns an error message or None per job).

    One job: its error is raised as :class:`UserInputError`. Many: done ones are skipped,
    a tqdm bar shows progress, failures are listed at the end; returns the exit status.
    """
    if not many:
        (error,) = process(jobs)
        if error:
            raise UserInputError(error)
        return 0
    from tqdm import tqdm

    todo = [job for job in jobs if not Path(job.target).exists()]
    print(f"simvq-audio: {verb} {len(todo)} of {len(jobs)} files ({len(jobs) - len(todo)} "
          "already done)", file=sys.stderr)
    failures = []
    with tqdm(total=len(todo), unit="file", desc=verb, file=sys.stderr) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            for job in batch:
                Path(job.target).parent.mkdir(parents=True, exist_ok=True)
            failures += [(job, error) for job, error in zip(batch, process(batch)) if error]
            bar.update(len(batch))
    if not failures:
        return 0
    print(f"simvq-audio: {len(failures)} of {len(todo)} files failed:", file=sys.stderr)
    for job, error in failures:
        print(f"  {error}" if error.startswith(job.source) else f"  {job.source}: {error}",
              file=sys.stderr)
    return 1


def output_error(target: str, error: OSError) -> str:
    return f"cannot write {target}: {error.strerror or error}"


def _check_output_dir(target: str) -> None:
    path = Path(target)
    if target == STDIO or (path.exists() and not path.is_dir()):
        raise UserInputError(f"with a directory or wav.scp as input, the output must be a "
                             f"directory, got {target}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserInputError(output_error(target, error)) from None
