"""The codec's file API: audio files -> ``.codes`` files and ``.codes`` files -> audio files,
under the output policy of :mod:`simvq_audio.outputs`.

Who owns what: :class:`~simvq_audio.codec.SimVQCodec` turns tensors into tokens and back and
one item's tokens into the bytes of a ``.codes`` file (``save_codes``/``load_codes``);
:mod:`simvq_audio.codes` owns those bytes; :mod:`simvq_audio.codec.encode_files` reads audio
files into tokens; this module decides which file becomes which, what is skipped, redone or
refused, and writes the outputs; ``simvq-audio encode``/``decode``
(:mod:`simvq_audio.commands.encode`, :mod:`~simvq_audio.commands.decode`) only parse their
arguments and call :func:`plan_encode` + :func:`encode` or :func:`plan_decode` + :func:`decode`,
and :meth:`SimVQCodec.decode_file <simvq_audio.codec.SimVQCodec.decode_file>` calls
:func:`decode_file`.

IN/OUT forms (a :class:`Plan` of :class:`Job`\\ s):

* a file and a file; ``-`` is stdin or stdout (a :class:`Job` holds None for either);
* a directory and a directory: every matching file under IN, the tree kept under OUT
  (encode: :func:`~simvq_audio.data.utterances.list_utterances`, as score and tokenize list
  their inputs; decode: every ``*.codes`` file, giving ``.wav`` files);
* (encode) a Kaldi ``wav.scp`` or data dir and a directory: ``OUT/<utt-id>.codes`` per line.

A plan is checked before any work: no output is an input, no two inputs share an output, the
output's format is known. A run then reads stdin (for ``-``) once into a temporary file, finds
what is at every output (:func:`encode_state`, :func:`decode_state`: outputs already made from
the same input by the same model are done, outputs made earlier from the same input path that
has changed since are redone, anything else is refused, all listed at once, unless
``overwrite``), and encodes or decodes the rest in batches. With several inputs a failure is
recorded and the rest go on; the failures are listed at the end (exit status 1). Each input is
read once as it is encoded or decoded, and once more beforehand only when an output exists to
compare it with (its identity is what tells done from redo).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import torch
from tqdm import tqdm

from simvq_audio import outputs
from simvq_audio.atomic import write_bytes
from simvq_audio.codec.encode_files import EncodedFile, encode_files
from simvq_audio.codec.tokens import Tokens
from simvq_audio.codes import SourceId, check_start, verify_codes
from simvq_audio.data.audio_formats import OUTPUT_FORMATS
from simvq_audio.data.audio_io import check_audio_start, output_format
from simvq_audio.data.kaldi_dir import Utterance
from simvq_audio.data.padding import pad_batch
from simvq_audio.data.utterances import files_under, list_utterances, names_many, output_path
from simvq_audio.errors import UserInputError
from simvq_audio.outputs import STDIN_NAME, STDIO, Existing, Input, Kind

if TYPE_CHECKING:
    from simvq_audio.codec.simvq_codec import SimVQCodec

CODES_SUFFIX = ".codes"
DECODED_SUFFIX = ".wav"
"""The format of each decoded file in directory mode, and of decoded audio on stdout."""
_STDOUT = "standard output"


@dataclass(frozen=True)
class Job:
    """One input and the output made from it."""

    source: str | None
    """Input path; None: standard input."""
    target: str | None
    """Output path; None: standard output."""


@dataclass(frozen=True)
class Plan:
    """The jobs of one IN/OUT pair; ``many``: IN listed several files (a directory or
    ``wav.scp``), so that a failure is recorded and the rest go on."""

    jobs: tuple[Job, ...]
    many: bool

    @property
    def reads_stdin(self) -> bool:
        return any(job.source is None for job in self.jobs)


Failure = tuple[Job, str]
"""A job and the message saying why it failed."""


# -- plans ----------------------------------------------------------------------------------------
def plan_encode(source: str, target: str) -> Plan:
    """The jobs of ``simvq-audio encode SOURCE TARGET`` (``-``: stdin/stdout), checked."""
    if source != STDIO and names_many(source):
        inputs = list_utterances(source, output_suffix=CODES_SUFFIX)
        _check_output_dir(target, target.lower().endswith(CODES_SUFFIX))
        return _plan_many(inputs, target, CODES_SUFFIX)
    _check_source(source)
    if target == STDIO:
        _check_stdout()
    elif not target.lower().endswith(CODES_SUFFIX):
        raise UserInputError(f"{target}: encode writes .codes files; name the output "
                             f"*{CODES_SUFFIX} (or - for stdout)")
    return _plan_one(source, target)


def plan_decode(source: str, target: str) -> Plan:
    """The jobs of ``simvq-audio decode SOURCE TARGET`` (``-``: stdin/stdout), checked."""
    if source != STDIO and Path(source).is_dir():
        inputs = files_under(source, {CODES_SUFFIX}, DECODED_SUFFIX, CODES_SUFFIX)
        _check_output_dir(target, Path(target).suffix.lower() in OUTPUT_FORMATS)
        return _plan_many(inputs, target, DECODED_SUFFIX)
    _check_source(source)
    if target == STDIO:
        _check_stdout()
    else:
        output_format(target)
    return _plan_one(source, target)


def _check_output_dir(target: str, names_a_file: bool) -> None:
    """With many inputs, OUT is a directory: not ``-``, not a file, and not a missing path
    whose name is that of an output file (``names_a_file``)."""
    path = Path(target)
    looks_like_file = names_a_file and not path.exists()
    if target == STDIO or (path.exists() and not path.is_dir()) or looks_like_file:
        hint = " (its name looks like a file's; create it first to use it)" * looks_like_file
        raise UserInputError(f"with a directory or wav.scp as input, OUT must be a directory, "
                             f"got {target}{hint}")


def _plan_many(inputs: list[Utterance], target: str, suffix: str) -> Plan:
    """One job per utterance: ``target/<id><suffix>``."""
    jobs = tuple(Job(str(utt.path), str(output_path(target, utt.utt_id, suffix)))
                 for utt in inputs)
    outputs.check_distinct((job.source, job.target) for job in jobs)
    outputs.check_not_inputs([job.target for job in jobs], [job.source for job in jobs])
    return Plan(jobs, many=True)


def _plan_one(source: str, target: str) -> Plan:
    """The one job of ``source`` -> ``target`` (``-`` for stdin/stdout)."""
    outputs.check_not_inputs([target], [source])
    return Plan((Job(None if source == STDIO else source, None if target == STDIO else target),),
                many=False)


def _check_source(source: str) -> None:
    if source != STDIO and not Path(source).is_file():
        raise UserInputError(f"{source}: no such file or directory")


def _check_stdout() -> None:
    if sys.stdout is None:
        raise UserInputError(f"cannot write to {_STDOUT}: it is closed; give an output file "
                             "name or redirect it ('> out')")


# -- runs -----------------------------------------------------------------------------------------
def encode(codec: SimVQCodec, plan: Plan, batch_size: int = 8, max_batch_seconds: float = 60.0,
           overwrite: bool = False, log: TextIO | None = None) -> int:
    """Encode the jobs of ``plan`` into ``.codes`` files: files of at most ``max_batch_seconds``
    in batches of ``batch_size`` files, longer ones streamed alone
    (:func:`~simvq_audio.codec.encode_files.encode_files`). ``log`` (stderr for the command
    line; None: silent) gets what is redone or up to date, progress and failures.

    Returns the exit status: 0, or 1 when some of many inputs failed.

    Raises:
        UserInputError: an output may not be written (nothing was), or the one input of a
            single-file plan failed.
    """
    stdin = read_stdin(check_audio_start) if plan.reads_stdin else None
    states = [encode_state(codec, job, stdin) for job in plan.jobs]
    todo, failures = select_jobs(plan, states, overwrite, "encode", log)
    attempted = len(todo) + len(failures)
    for batch in batches(todo, batch_size, "encode", log if plan.many else None):
        failures += encode_batch(codec, batch, stdin, max_batch_seconds)
    return finish(plan, failures, attempted, log)


def decode(codec: SimVQCodec, plan: Plan, batch_size: int = 8, any_model: bool = False,
           overwrite: bool = False, log: TextIO | None = None) -> int:
    """Decode the jobs of ``plan`` into audio files at the model rate, ``batch_size`` files per
    batch; codes made by another model are refused unless ``any_model``. ``log`` as for
    :func:`encode`.

    Returns the exit status: 0, or 1 when some of many inputs failed.

    Raises:
        UserInputError: an output may not be written (nothing was), or the one input of a
            single-file plan failed.
    """
    stdin = read_stdin(check_start) if plan.reads_stdin else None
    states = [decode_state(codec, job, stdin) for job in plan.jobs]
    todo, failures = select_jobs(plan, states, overwrite, "decode", log)
    attempted = len(todo) + len(failures)
    for batch in batches(todo, batch_size, "decode", log if plan.many else None):
        failures += decode_batch(codec, batch, stdin, any_model)
    return finish(plan, failures, attempted, log)


def decode_file(codec: SimVQCodec, codes: str | os.PathLike, audio_path: str | os.PathLike,
                any_model: bool = False, overwrite: bool = False) -> None:
    """Decode the ``.codes`` file ``codes`` into the audio file ``audio_path`` (format from its
    extension), silently, under the same policy as :func:`decode`; ``-`` is a file name here."""
    codes, audio_path = os.fspath(codes), os.fspath(audio_path)
    output_format(audio_path)
    outputs.check_not_inputs([audio_path], [codes])
    decode(codec, Plan((Job(codes, audio_path),), many=False), 1, any_model, overwrite)


# -- the steps of a run ---------------------------------------------------------------------------
def read_stdin(check: Callable[[bytes, str], None]) -> Input:
    """Stdin, read as a stream into a temporary file (:func:`simvq_audio.outputs.spool`) in
    bounded memory, hashed on the way; ``check(first_bytes, "stdin")`` refuses what does not
    start as the expected format before the rest is read. An empty stdin is refused."""
    stream = None if sys.stdin is None else sys.stdin.buffer
    return outputs.spool(stream, STDIN_NAME, lambda head: check(head, STDIN_NAME))


def encode_state(codec: SimVQCodec, job: Job, stdin: Input | None) -> Existing | str:
    """What is at ``job``'s output, for the ``.codes`` file ``codec`` would make from its input
    (``stdin`` when its source is None), or the message saying why the input could not be
    read. The input is hashed only when a file is there to compare it with."""
    if job.target is None:
        return Existing(Kind.NEW)
    early = outputs.state_unless_file(job.target)
    if early is not None:
        return early
    try:
        identity = stdin.identity() if job.source is None else outputs.input_id(job.source)
    except UserInputError as error:
        return str(error)
    return outputs.codes_state(job.target, codec.model_hash, identity)


def decode_state(codec: SimVQCodec, job: Job, stdin: Input | None) -> Existing | str:
    """What is at ``job``'s output, for the audio ``codec`` would decode from its ``.codes``
    input (``stdin`` when its source is None), or the message saying why the input could not be
    read. The input is read (one read: its header and its identity) only when an output exists
    to compare."""
    if job.target is None or not os.path.lexists(job.target):
        return Existing(Kind.NEW)
    try:
        with outputs.open_source(stdin if job.source is None else job.source) as opened:
            header = verify_codes(opened.handle, opened.name)
            identity = opened.identity()
    except UserInputError as error:
        return str(error)
    return outputs.audio_state(job.target, codec.model_hash, identity, header.num_samples,
                               codec.sample_rate)


def select_jobs(plan: Plan, states: list[Existing | str], overwrite: bool, verb: str,
                log: TextIO | None) -> tuple[list[Job], list[Failure]]:
    """``(jobs to do, jobs that failed)`` from each job's state: refuse the run when an output
    may not be written (:func:`simvq_audio.outputs.refuse_foreign`), and tell ``log`` what is
    redone, and how many files will be worked on (or that a single output is up to date).

    Raises:
        UserInputError: an output may not be written, or the one input of a single-file plan
            could not be read.
    """
    failures = [(job, state) for job, state in zip(plan.jobs, states) if isinstance(state, str)]
    if failures and not plan.many:
        raise UserInputError(failures[0][1])
    known = [(job, state) for job, state in zip(plan.jobs, states) if isinstance(state, Existing)]
    todo = outputs.outputs_to_write([job for job, _ in known], [state for _, state in known],
                                    overwrite, log)
    if plan.many:
        _say(log, f"simvq-audio: {verb} {len(todo) + len(failures)} of {len(plan.jobs)} files "
                  f"({len(known) - len(todo)} already done)")
    elif not todo:
        _say(log, f"simvq-audio: {plan.jobs[0].target} is up to date (this model, this input)")
    return todo, failures


def batches(jobs: list[Job], batch_size: int, verb: str,
            progress: TextIO | None) -> Iterator[list[Job]]:
    """``jobs`` in slices of ``batch_size``, counted in a tqdm bar of files on ``progress``
    (no bar without)."""
    with tqdm(total=len(jobs), unit="file", desc=verb, file=progress,
              disable=progress is None) as bar:
        for start in range(0, len(jobs), batch_size):
            batch = jobs[start:start + batch_size]
            yield batch
            bar.update(len(batch))


def encode_batch(codec: SimVQCodec, jobs: list[Job], stdin: Input | None,
                 max_batch_seconds: float) -> list[Failure]:
    """Encode the inputs of ``jobs`` (each read once; its identity is that of the bytes
    encoded) and write each one's ``.codes`` file; the jobs that failed, in order."""
    results = encode_files(codec, [stdin if job.source is None else job.source for job in jobs],
                           max_batch_seconds)
    failures = []
    for job, result in zip(jobs, results):
        if isinstance(result, str):
            failures.append((job, result))
            continue
        try:
            write_encoded(codec, job.target, result)
        except UserInputError as error:
            failures.append((job, str(error)))
    return failures


def write_encoded(codec: SimVQCodec, target: str | None, encoded: EncodedFile) -> None:
    """Write one file's tokens as a ``.codes`` file at ``target`` (atomically; None: stdout),
    recording the identity of its input."""
    if target is not None:
        codec.save_codes(encoded.tokens, target, encoded.channels, encoded.source)
        return
    buffer = io.BytesIO()
    codec.save_codes(encoded.tokens, buffer, encoded.channels, encoded.source)
    write_stdout(buffer.getvalue())


def decode_batch(codec: SimVQCodec, jobs: list[Job], stdin: Input | None,
                 any_model: bool) -> list[Failure]:
    """Decode the ``.codes`` inputs of ``jobs`` as one batch (each read once: the identity its
    output's tag records is that of the tokens decoded) and write each one's audio file,
    tagged (:func:`simvq_audio.outputs.decoded_audio`); the jobs that failed, in order."""
    errors: dict[int, str] = {}
    loaded: dict[int, tuple[Tokens, SourceId]] = {}
    for index, job in enumerate(jobs):
        try:
            with outputs.open_source(stdin if job.source is None else job.source) as opened:
                tokens = codec.load_codes(opened.handle, any_model, what=opened.name)
                loaded[index] = tokens, opened.identity()
        except UserInputError as error:
            errors[index] = str(error)
    if loaded:
        audio = codec.decode(_joined([tokens for tokens, _ in loaded.values()],
                                     codec.sample_rate))
        for row, (index, (tokens, identity)) in enumerate(loaded.items()):
            target = jobs[index].target
            suffix = DECODED_SUFFIX if target is None else Path(target).suffix.lower()
            try:
                data = outputs.decoded_audio(audio[row, :int(tokens.num_samples[0])],
                                             codec.sample_rate, suffix, codec.model_hash,
                                             identity)
                if target is None:
                    write_stdout(data)
                else:
                    write_bytes(target, data)
            except UserInputError as error:
                errors[index] = str(error)
    return [(jobs[index], errors[index]) for index in sorted(errors)]


def finish(plan: Plan, failures: list[Failure], attempted: int, log: TextIO | None) -> int:
    """The exit status of a run: a single-file plan raises its failure; with many inputs the
    failures (of ``attempted`` files) are listed on ``log`` and the status is 1."""
    if not plan.many:
        if failures:
            raise UserInputError(failures[0][1])
        return 0
    if not failures:
        return 0
    _say(log, f"simvq-audio: {len(failures)} of {attempted} files failed:")
    for job, error in failures:
        _say(log, f"  {error}" if error.startswith(job.source) else f"  {job.source}: {error}")
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


def _joined(items: list[Tokens], sample_rate: int) -> Tokens:
    """Items of one item each (``ids [1, T'_i]``) as one padded batch ``[B, max T'_i]``."""
    ids, lengths = pad_batch([item.ids[0] for item in items])
    return Tokens(ids, lengths, torch.cat([item.num_samples for item in items]), sample_rate)


def _say(log: TextIO | None, line: str) -> None:
    if log is not None:
        print(line, file=log)
