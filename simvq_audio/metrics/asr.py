"""Intelligibility: word and character error rates (WER, CER) of an ASR transcript of the decoded
speech, independent of the recogniser (PocketSphinx and Whisper plug into
:class:`TranscriptScorer`).

The reference text is the utterance's transcript when the data dir has one (``text``); the
recogniser's own transcript of the reference audio is then scored against it as well, as the
ASR's floor (``ref_wer_<asr>``, ``ref_cer_<asr>``). Without a transcript, the hypothesis'
transcript is scored against the transcript of the reference audio.

Both texts go through :func:`normalize_text` (below); the error count is the Levenshtein
distance (unit cost substitutions, deletions, insertions) between the reference and hypothesis
word sequences, or between their character sequences with the spaces removed (so CER does not
count where words break, and applies unchanged to scripts written without spaces). Rates are
fractions (0.12, not 12 %): errors / reference length, which exceeds 1 when the hypothesis
inserts more words than the reference has. The error counts and reference lengths are returned
as details, so that a corpus rate is total errors / total reference length
(:func:`corpus_error_rates`), not the mean of per-utterance rates.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from simvq_audio.metrics.pairs import MetricSkipped
from simvq_audio.metrics.scorers import Column, ScoreInput

ASR_RATE = 16000           # every recogniser here takes 16 kHz audio
APOSTROPHE = "'"
APOSTROPHE_VARIANTS = "\u2019\u2018\u02bc\u2032`\u00b4"   # ’ ‘ ʼ ′ ` ´ written for an apostrophe
KEPT_CATEGORIES = ("L", "M", "N")   # letters, combining marks, numbers (Unicode major classes)
REFERENCE_TEXT, REFERENCE_AUDIO = "text", "audio"   # what a hypothesis was scored against


def normalize_text(text: str) -> str:
    """The text WER and CER compare: one rule for every language and recogniser.

    1. Unicode NFKC (compatibility forms folded: full-width letters, ligatures, superscripts).
    2. Lower case (``str.lower``).
    3. Apostrophes (``'`` and the typographic ``’ ‘ ʼ ′ ` ´``) become ``'``; one between two word
       characters is kept (``don't``, ``o'clock``), any other (quotes, ``dogs'``) is a space.
    4. Every other character that is not a letter, a combining mark or a number becomes a space:
       punctuation, hyphens (``well-known`` is two words), symbols (``%``, ``$``), controls.
    5. Runs of whitespace become one space; no leading or trailing space.

    Numbers are left as written: ``9`` and ``nine`` are different words, and a decimal point or
    thousands separator splits a number like any punctuation (``3.5`` -> ``3 5``). A recogniser
    that writes digits where the transcript spells numbers out (or the reverse) is charged for
    it.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    for variant in APOSTROPHE_VARIANTS:
        text = text.replace(variant, APOSTROPHE)
    kept = [unicodedata.category(char)[0] in KEPT_CATEGORIES for char in text]
    out = [char if kept[i] or (char == APOSTROPHE and 0 < i < len(text) - 1
                               and kept[i - 1] and kept[i + 1]) else " "
           for i, char in enumerate(text)]
    return " ".join("".join(out).split())


def words(text: str) -> list[str]:
    """The words of ``text`` after :func:`normalize_text`."""
    return normalize_text(text).split()


def characters(text: str) -> list[str]:
    """The characters (code points) of ``text`` after :func:`normalize_text`, spaces removed."""
    return list(normalize_text(text).replace(" ", ""))


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    """Levenshtein distance between two sequences of comparable items (words, characters): the
    fewest substitutions, deletions and insertions (cost 1 each) that turn ``reference [N]``
    into ``hypothesis [M]``. O(N M) time, O(M) memory."""
    previous = list(range(len(hypothesis) + 1))   # distances from reference[:0]
    for i, ref_item in enumerate(reference, start=1):
        current = [i]
        for j, hyp_item in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1,                               # deletion
                               current[j - 1] + 1,                            # insertion
                               previous[j - 1] + (ref_item != hyp_item)))     # (mis)match
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class ErrorCount:
    """Edit errors of a hypothesis and the length of its reference (words or characters)."""

    errors: int
    length: int

    @property
    def rate(self) -> float:
        """``errors / length`` (a fraction; above 1 with many insertions). Raises
        :class:`MetricSkipped` for an empty reference."""
        if self.length == 0:
            raise MetricSkipped("empty reference")
        return self.errors / self.length


def word_errors(reference: str, hypothesis: str) -> ErrorCount:
    """Word edit errors of ``hypothesis`` against ``reference`` (both normalised here)."""
    ref_words = words(reference)
    return ErrorCount(edit_distance(ref_words, words(hypothesis)), len(ref_words))


def char_errors(reference: str, hypothesis: str) -> ErrorCount:
    """Character edit errors (spaces removed) of ``hypothesis`` against ``reference``."""
    ref_chars = characters(reference)
    return ErrorCount(edit_distance(ref_chars, characters(hypothesis)), len(ref_chars))


def corpus_error_rates(rows: Iterable[Mapping], asr: str) -> dict[str, float]:
    """Corpus WER and CER of recogniser ``asr`` over ``rows`` (dicts holding a
    :class:`TranscriptScorer`'s details; rows without them are left out): total errors / total
    reference length, as ``{"wer_<asr>": ..., "cer_<asr>": ...}``, plus ``ref_wer_<asr>`` and
    ``ref_cer_<asr>`` over the rows that have the reference audio's counts. A rate whose rows
    have no reference word at all is left out. Rows scored against a transcript and rows scored
    against the reference audio's transcript (``<asr>_reference_kind``) are summed alike: pass
    one kind at a time to keep them apart."""
    totals: dict[str, list[int]] = {}
    keys = {f"wer_{asr}": (f"{asr}_word_errors", f"{asr}_words"),
            f"cer_{asr}": (f"{asr}_char_errors", f"{asr}_chars"),
            f"ref_wer_{asr}": (f"{asr}_ref_word_errors", f"{asr}_words"),
            f"ref_cer_{asr}": (f"{asr}_ref_char_errors", f"{asr}_chars")}
    for row in rows:
        for name, (errors, length) in keys.items():
            if errors in row and length in row:
                total = totals.setdefault(name, [0, 0])
                total[0] += int(row[errors])
                total[1] += int(row[length])
    return {name: errors / length for name, (errors, length) in totals.items() if length > 0}


Transcribe = Callable[[np.ndarray, str], str]
"""A recogniser: ``transcribe(wav [T] float32 at 16 kHz, language ISO 639-1) -> text``."""


class TranscriptScorer:
    """A :class:`~simvq_audio.metrics.scorers.Scorer` made of a recogniser.

    ``score`` returns ``wer_<asr>`` and ``cer_<asr>`` (fractions, lower is better) and, when the
    utterance has a transcript, ``ref_wer_<asr>`` and ``ref_cer_<asr>`` (the reference audio's
    own rates against it: what the recogniser gets wrong on undegraded speech). Its details:
    ``<asr>_transcript`` (of the decoded speech), ``<asr>_reference`` (the text it was scored
    against), ``<asr>_reference_kind`` (``"text"``: the transcript, ``"audio"``: the transcript
    of the reference audio), ``<asr>_word_errors``, ``<asr>_words`` (reference words),
    ``<asr>_char_errors``, ``<asr>_chars``, and with a transcript ``<asr>_ref_transcript``,
    ``<asr>_ref_word_errors``, ``<asr>_ref_char_errors``. Raw transcripts are stored; the counts
    are of the normalised texts.

    Args:
        name: registry name of the scorer (``"sphinx_asr"``).
        asr: short tag of the recogniser in column names (``"sphinx"``).
        label: recogniser in column labels (``"PocketSphinx, en"``).
        description: model and version, for the summary.
        transcribe: the recogniser (see :data:`Transcribe`).
        languages: ISO 639-1 codes it has models for; other utterances are skipped.
        display_name: the recogniser in skip reasons (default: ``asr``).
    """

    def __init__(self, name: str, asr: str, label: str, description: str,
                 transcribe: Transcribe, languages: Iterable[str],
                 display_name: str | None = None):
        self.name, self.asr, self.description = name, asr, description
        self.transcribe = transcribe
        self.languages = frozenset(languages)
        self.display_name = display_name or asr
        self.columns = (Column(f"wer_{asr}", f"WER ({label})", higher_is_better=False),
                        Column(f"cer_{asr}", f"CER ({label})", higher_is_better=False),
                        Column(f"ref_wer_{asr}", f"WER of the reference audio ({label})",
                               higher_is_better=False),
                        Column(f"ref_cer_{asr}", f"CER of the reference audio ({label})",
                               higher_is_better=False))
        self.details = tuple(f"{asr}_{detail}" for detail in (
            "transcript", "reference", "reference_kind", "word_errors", "words", "char_errors",
            "chars", "ref_transcript", "ref_word_errors", "ref_char_errors"))

    def score(self, item: ScoreInput) -> dict[str, float | int | str]:
        """WER/CER of ``item.hyp``'s transcript (see the class docstring). Raises
        :class:`MetricSkipped` for a language without a model, a transcript with no word after
        normalisation, or a reference audio whose transcript is empty (when there is no
        transcript)."""
        if item.language not in self.languages:
            raise MetricSkipped(f"{self.display_name} has no {item.language} model")
        if item.text is not None and not words(item.text):
            raise MetricSkipped("the transcript has no word after normalisation")
        ref_wav, hyp_wav = (wav.astype(np.float32) for wav in item.at(ASR_RATE))
        ref_transcript = item.of_reference(
            f"{self.description}: transcript, {item.language}", ASR_RATE,
            lambda: self.transcribe(ref_wav, item.language))
        if item.text is None:
            reference, kind = ref_transcript, REFERENCE_AUDIO
            if not words(reference):
                raise MetricSkipped(f"{self.display_name} heard no word in the reference audio")
        else:
            reference, kind = item.text, REFERENCE_TEXT
        transcript = self.transcribe(hyp_wav, item.language)
        asr = self.asr
        word, char = word_errors(reference, transcript), char_errors(reference, transcript)
        values: dict[str, float | int | str] = {
            f"wer_{asr}": word.rate, f"cer_{asr}": char.rate,
            f"{asr}_transcript": transcript, f"{asr}_reference": reference,
            f"{asr}_reference_kind": kind,
            f"{asr}_word_errors": word.errors, f"{asr}_words": word.length,
            f"{asr}_char_errors": char.errors, f"{asr}_chars": char.length}
        if kind == REFERENCE_TEXT:
            ref_word = word_errors(reference, ref_transcript)
            ref_char = char_errors(reference, ref_transcript)
            values.update({f"ref_wer_{asr}": ref_word.rate, f"ref_cer_{asr}": ref_char.rate,
                           f"{asr}_ref_transcript": ref_transcript,
                           f"{asr}_ref_word_errors": ref_word.errors,
                           f"{asr}_ref_char_errors": ref_char.errors})
        return values
