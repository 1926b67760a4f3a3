"""What ``simvq-audio encode`` and ``decode`` share: loading the model, and turning IN/OUT into
jobs and running them under the output policy of :mod:`simvq_audio.outputs` (which imports
torch; their options are in the torch-free :mod:`simvq_audio.commands.model_arguments`).

IN/OUT forms:

* a file and a file (either may be ``-``: stdin/stdout);
* a directory and a directory: every matching file under IN, the tree kept under OUT;
* (encode) a Kaldi ``wav.scp`` or data dir and a directory: ``OUT/<utt-id>.codes`` per line.

Encode lists its inputs with :func:`simvq_audio.data.utterances.list_utterances` (as score and
tokenize do), decode the ``.codes`` files under IN.

Before any work the plan is checked (no output is an input, no two inputs share an output, the
output format is known) and every existing output is classified: outputs already made from the
same input by the same model are skipped, outputs made earlier from the same input path that has
changed since are redone, and anything else is refused, all listed at once, unless
``--overwrite``. With a directory or ``wav.scp``, a failure is recorded and the rest go on, and
the failures are listed at the end (exit status 1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simvq_audio.commands.model_arguments import MODEL_ENV
from simvq_audio.data.kaldi_dir import Utterance
from simvq_audio.data.utterances import output_path
from simvq_audio.errors import UserInputError
from simvq_audio.outputs import (
    STDIO,
    Existing,
    Input,
    Kind,
    check_distinct,
    check_not_inputs,
    refuse_foreign,
    short_list,
    spool,
)

STDIN = "stdin"
_STDOUT = "standard output"


@dataclass
class Job:
    source: str
    """Input path, or ``-`` for stdin."""
    target: str
    """Output path, or ``-`` for stdout."""
    data: Input | None = None
    """Stdin, spooled (:func:`read_stdin`), for a ``-`` input."""


def load_codec(args: argparse.Namespace):
    """The codec of ``--model`` on ``--device``, searching codes with the back end of
    ``SIMVQ_SEARCH_BACKEND``; a clear error when none is given."""
    from simvq_audio.codec import SimVQCodec
    from simvq_audio.commands import search_backend

    if not args.model:
        raise UserInputError(f"no model given: pass --model DIR or set {MODEL_ENV} to a model "
                             "directory (simvq-audio export writes one)")
    return SimVQCodec.from_pretrained(args.model, device=args.device,
                                      search_backend=search_backend())


def plan_jobs(source: str, target: str, inputs: list[Utterance] | None, out_suffix: str,
              check_target: Callable[[str], object]) -> list[Job]:
    """The jobs of ``source`` -> ``target``: with ``inputs`` (many mode, from the listing of
    :mod:`simvq_audio.data.utterances`) one ``target/<id><out_suffix>`` each, else the one
    file or ``-``. ``check_target`` refuses a single output whose format its name does not
    give."""
    if inputs is not None:
        _check_output_dir(target, check_target)
        jobs = [Job(str(utt.path), str(output_path(target, utt.utt_id, out_suffix)))
                for utt in inputs]
    else:
        if source != STDIO and not Path(source).is_file():
            raise UserInputError(f"{source}: no such file or directory")
        if target != STDIO:
            check_target(target)
        elif sys.stdout is None:
            raise UserInputError(f"cannot write to {_STDOUT}: it is closed; give an output file "
                                 "name or redirect it ('> out')")
        jobs = [Job(source, target)]
    check_distinct((job.source, job.target) for job in jobs)
    check_not_inputs([job.target for job in jobs], [job.source for job in jobs])
    return jobs


def read_stdin(check_start: Callable[[bytes, str], None]) -> Input:
    """Stdin, read as a stream into a temporary file (:func:`simvq_audio.outputs.spool`) in
    bounded memory, hashed on the way; ``check_start(first_bytes, "stdin")`` refuses what does
    not start as the expected format before the rest is read. An empty stdin is refused."""
    stream = None if sys.stdin is None else sys.stdin.buffer
    return spool(stream, STDIN, lambda head: check_start(head, STDIN))


def run_jobs(jobs: list[Job], many: bool, batch_size: int, classify: Callable[[Job], Existing],
             process: Callable[[list[Job]], list[str | None]], verb: str,
             overwrite: bool) -> int:
    """Classify every job's output (``classify`` spools a ``-`` input into ``job.data``),
    refuse the run if any output may not be written, then run ``process`` on batches of the
    jobs still to do (it returns an error message or None per job).

    One job: its error is raised as :class:`UserInputError`. Many: a tqdm bar shows progress,
    failures are listed at the end; returns the exit status.
    """
    states, failures = [], []
    for job in jobs:
        try:
            states.append((job, classify(job)))
        except UserInputError as error:
            if not many:
                raise
            failures.append((job, str(error)))
    refuse_foreign([(job.target, state) for job, state in states], overwrite)
    redone = [f"{job.target} ({state.reason})" for job, state in states
              if state.kind is Kind.REDO and state.reason]
    if redone:
        print(f"simvq-audio: redoing {len(redone)} earlier output(s): {short_list(redone)}",
              file=sys.stderr)
    todo = [job for job, state in states if state.kind is not Kind.DONE]
    if not many:
        if not todo:
            print(f"simvq-audio: {jobs[0].target} is up to date (this model, this input)",
                  file=sys.stderr)
            return 0
        (error,) = process(todo)
        if error:
            raise UserInputError(error)
        return 0
    from tqdm import tqdm

    attempted = len(todo) + len(failures)
    print(f"simvq-audio: {verb} {attempted} of {len(jobs)} files ({len(states) - len(todo)} "
          "already done)", file=sys.stderr)
    with tqdm(total=len(todo), unit="file", desc=verb, file=sys.stderr) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            failures += [(job, error) for job, error in zip(batch, process(batch)) if error]
            bar.update(len(batch))
    if not failures:
        return 0
    print(f"simvq-audio: {len(failures)} of {attempted} files failed:", file=sys.stderr)
    for job, error in failures:
        print(f"  {error}" if error.startswith(job.source) else f"  {job.source}: {error}",
              file=sys.stderr)
    return 1


def write_stdout(data: bytes) -> None:
    """Write ``data`` to standard output; a closed or full one is one :class:`UserInputError`."""
    if sys.stdout is None:
        raise UserInputError(f"cannot write to {_STDOUT}: it is closed")
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except OSError as error:
        raise UserInputError(f"cannot write to {_STDOUT}: "
                             f"{error.strerror or 'the write failed'}") from None


def _check_output_dir(target: str, check_target: Callable[[str], object]) -> None:
    """With many inputs, OUT is a directory: not ``-``, not a file, not a file-like name."""
    path = Path(target)
    looks_like_file = not path.exists() and _accepts(check_target, target)
    if target == STDIO or (path.exists() and not path.is_dir()) or looks_like_file:
        hint = " (its name looks like a file's; create it first to use it)" * looks_like_file
        raise UserInputError(f"with a directory or wav.scp as input, OUT must be a directory, "
                             f"got {target}{hint}")


def _accepts(check_target: Callable[[str], object], target: str) -> bool:
    try:
        check_target(target)
    except UserInputError:
        return False
    return True
