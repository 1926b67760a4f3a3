"""Issue 24: numeric command-line options refuse values that cannot mean anything. Before,
``encode --max-batch-seconds nan`` or ``-1`` (and every other ``type=int``/``type=float``
option) was accepted and the command ran with it; now argparse refuses it with its usage line
and ``argument --x: must be ...`` (exit status 2) before any work starts."""

import argparse

import pytest

from simvq_audio.cli import build_parser, main
from simvq_audio.commands.arg_types import (
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from simvq_audio.corpora import debian_speech, duration_filter, espeak_corpus, prepare

POSITIVE = ("nan", "inf", "-1", "0")
"""Bad values of an option where 0 means nothing (a size, a count of workers)."""
NON_NEGATIVE = ("nan", "inf", "-1")
"""Bad values of an option where 0 means "none" (plots, held-out utterances)."""

SIMVQ_AUDIO = [
    (["encode"], "--max-batch-seconds", POSITIVE),
    (["encode"], "--batch-size", POSITIVE + ("1.5",)),
    (["decode"], "--batch-size", POSITIVE),
    (["score"], "--num-codes", POSITIVE),
    (["score"], "--tokens-per-second", POSITIVE),
    (["score"], "--nj", POSITIVE),
    (["score"], "--num-plots", NON_NEGATIVE),
    (["score"], "--report-spectrograms", NON_NEGATIVE),
    (["compare"], "--report-spectrograms", NON_NEGATIVE),
    (["tokenize"], "--batch-seconds", POSITIVE),
    (["tokenize"], "--shard-size", POSITIVE),
    (["train"], "--max-steps", POSITIVE),
    (["train"], "--batch-size", POSITIVE),
    (["train"], "--max-bad-steps", POSITIVE),
    (["train"], "--usage-window", POSITIVE),
    (["train"], "--valid-utterances", POSITIVE),
    (["image", "patches"], "--size", POSITIVE),
    (["image", "patches"], "--train-per-image", POSITIVE),
    (["image", "patches"], "--valid-per-image", POSITIVE),
    (["image", "train"], "--max-steps", POSITIVE),
    (["image", "score"], "--batch-size", POSITIVE),
]
CORPORA = [
    (debian_speech.main, "--train-minutes", POSITIVE),
    (debian_speech.main, "--dev-utts-per-voice", POSITIVE),
    (debian_speech.main, "--test-utts-per-voice", NON_NEGATIVE),
    (debian_speech.main, "--min-clip", NON_NEGATIVE),
    (debian_speech.main, "--max-clip", POSITIVE),
    (debian_speech.main, "--nj", POSITIVE),
    (duration_filter.main, "--min-dur", NON_NEGATIVE),
    (duration_filter.main, "--max-dur", POSITIVE),
    (espeak_corpus.main, "--utts-per-speaker", POSITIVE),
    (espeak_corpus.main, "--nj", POSITIVE),
    (prepare.main, "--nj", POSITIVE),
]


def refused_by_argparse(capsys, run, argv: list[str], option: str, value: str) -> None:
    """``run(argv)`` exits with status 2 and argparse's line naming ``option`` and ``value``."""
    with pytest.raises(SystemExit) as exit_info:
        run(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: must be " in err and f"got '{value}'" in err, err


@pytest.mark.parametrize("command, option, value", [
    (command, option, value) for command, option, values in SIMVQ_AUDIO for value in values])
def test_simvq_audio_options_refuse_meaningless_numbers(capsys, command, option, value):
    refused_by_argparse(capsys, main, [*command, f"{option}={value}"], option, value)


@pytest.mark.parametrize("run, option, value", [
    (run, option, value) for run, option, values in CORPORA for value in values])
def test_corpora_options_refuse_meaningless_numbers(capsys, run, option, value):
    refused_by_argparse(capsys, run, [f"{option}={value}"], option, value)


def test_no_numeric_option_is_left_with_a_bare_int_or_float():
    """Every ``simvq-audio`` option that takes a number uses a type of
    :mod:`simvq_audio.commands.arg_types`, so a new option cannot forget the check."""
    def actions(parser: argparse.ArgumentParser):
        for action in parser._actions:
            yield parser.prog, action
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from actions(sub)

    bare = [f"{prog} {action.option_strings}" for prog, action in actions(build_parser())
            if action.type in (int, float)]
    assert not bare


def test_good_values_are_kept():
    assert positive_int("3") == 3 and non_negative_int("0") == 0
    assert positive_float("0.5") == 0.5 and non_negative_float("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError, match="whole number"):
        positive_int("9" * 5000)  # longer than int() converts
