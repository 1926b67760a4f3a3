"""WER/CER independent of any recogniser: the text normalisation, the edit distance (hand-worked
cases, properties, a second formulation), corpus rates, and the scorer logic with a fake
recogniser (transcript given or not, unsupported language, empty reference)."""

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simvq_audio.metrics.asr import (
    ErrorCount,
    TranscriptScorer,
    char_errors,
    characters,
    corpus_error_rates,
    edit_distance,
    normalize_text,
    word_errors,
    words,
)
from simvq_audio.metrics.pairs import MetricSkipped
from simvq_audio.metrics.scorers import ScoreInput


@pytest.mark.parametrize("text, normalised", [
    ("Hello, World!", "hello world"),
    ("  several\t\nspaces  here ", "several spaces here"),
    ("Don't stop; it's fine.", "don't stop it's fine"),
    ("Don\u2019t \u2018quote\u2019 me", "don't quote me"),             # typographic apostrophes
    ("'Tis the dogs' bone", "tis the dogs bone"),                       # not inside a word
    ("rock 'n' roll", "rock n roll"),
    ("well-known \u2014 state-of-the-art", "well known state of the art"),
    ("9 to 5, 3.5 % or $1,000", "9 to 5 3 5 or 1 000"),                 # numbers as written
    ("\uff26\uff55\uff4c\uff4c-width \ufb01ne x\u00b2", "full width fine x2"),  # NFKC
    ("\u00c7a va? \u00dcBER", "\u00e7a va \u00fcber"),
    ("e\u0301t\u00e9", "\u00e9t\u00e9"),                                # NFKC composes
    ("\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e!",
     "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e"),  # marks kept
    ("snake_case / a+b=c", "snake case a b c"),
    ("?!...", ""),
])
def test_normalize_text(text, normalised):
    assert normalize_text(text) == normalised


def test_words_and_characters():
    assert words("Ill-disposed, he was.") == ["ill", "disposed", "he", "was"]
    assert characters("It's a B.") == list("it'sab")


@pytest.mark.parametrize("reference, hypothesis, distance", [
    ("", "", 0),
    ("abc", "", 3),
    ("", "ab", 2),
    ("kitten", "sitting", 3),           # 2 substitutions, 1 insertion
    ("flaw", "lawn", 2),                # 1 deletion, 1 insertion
    ("intention", "execution", 5),
    ("abc", "abc", 0),
    ("abcdef", "azced", 3),
])
def test_edit_distance_hand_worked(reference, hypothesis, distance):
    assert edit_distance(reference, hypothesis) == distance
    assert edit_distance(list(reference), list(hypothesis)) == distance


def test_word_and_char_errors_hand_worked():
    reference = "He was not an ill-disposed young man."
    hypothesis = "he was not until this blows young man"
    # an ill disposed -> until this blows: 3 substitutions of 8 words
    assert word_errors(reference, hypothesis) == ErrorCount(3, 8)
    assert word_errors(reference, "he was not an ill disposed young man") == ErrorCount(0, 8)
    assert word_errors("a b c", "a x c d") == ErrorCount(2, 3)         # 1 sub + 1 insertion
    assert word_errors("a b c", "") == ErrorCount(3, 3)
    assert word_errors("one", "one two three four").rate == 3.0        # insertions: above 1
    # CER ignores spaces: a word split differently costs nothing
    assert char_errors("ill disposed", "illdis posed") == ErrorCount(0, 11)
    assert char_errors("cat", "cut") == ErrorCount(1, 3)
    with pytest.raises(MetricSkipped):
        _ = word_errors("", "anything").rate


def reference_distance(reference, hypothesis):
    """The textbook recursion, for comparison."""
    @lru_cache(maxsize=None)
    def distance(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(distance(i - 1, j) + 1, distance(i, j - 1) + 1,
                   distance(i - 1, j - 1) + (reference[i - 1] != hypothesis[j - 1]))
    return distance(len(reference), len(hypothesis))


sequences = st.lists(st.sampled_from("abcd"), max_size=12)


@given(sequences, sequences, sequences)
def test_edit_distance_properties(a, b, c):
    distance = edit_distance(a, b)
    assert distance == reference_distance(tuple(a), tuple(b))
    assert distance == edit_distance(b, a)                              # symmetric
    assert abs(len(a) - len(b)) <= distance <= max(len(a), len(b))     # bounds
    assert (distance == 0) == (a == b)
    assert edit_distance(a, c) <= distance + edit_distance(b, c)       # triangle inequality
    assert edit_distance(a, a) == 0


@given(st.text(max_size=40))
def test_normalisation_is_idempotent_and_clean(text):
    normalised = normalize_text(text)
    assert normalize_text(normalised) == normalised
    assert normalised == normalised.strip() and "  " not in normalised
    assert word_errors(text, text).errors == 0 and char_errors(text, text).errors == 0


def test_corpus_rates_sum_counts():
    rows = [{"sphinx_word_errors": 1, "sphinx_words": 2, "sphinx_char_errors": 0,
             "sphinx_chars": 10, "sphinx_ref_word_errors": 0, "sphinx_ref_char_errors": 1},
            {"sphinx_word_errors": 0, "sphinx_words": 8, "sphinx_char_errors": 5,
             "sphinx_chars": 30},
            {"utt_id": "skipped"}]
    rates = corpus_error_rates(rows, "sphinx")
    assert rates["wer_sphinx"] == pytest.approx(0.1)          # 1/10, not the mean of 0.5 and 0
    assert rates["cer_sphinx"] == pytest.approx(5 / 40)
    assert rates["ref_wer_sphinx"] == 0.0 and rates["ref_cer_sphinx"] == pytest.approx(0.1)
    assert corpus_error_rates([{"utt_id": "x"}], "sphinx") == {}


class FakeRecognizer:
    """Says ``ref_says`` for the reference audio and ``hyp_says`` for the hypothesis (told apart
    by their level: the hypothesis is the reference at half the amplitude)."""

    def __init__(self, ref_says, hyp_says):
        self.ref_says, self.hyp_says = ref_says, hyp_says
        self.calls = []

    def __call__(self, wav, language):
        assert wav.dtype == np.float32 and wav.ndim == 1
        self.calls.append((len(wav), language))
        return self.ref_says if np.max(np.abs(wav)) > 0.3 else self.hyp_says


def make_item(text=None, language="en", rate=24000, seconds=1.0):
    ref = 0.5 * np.sin(np.linspace(0, 2000, int(rate * seconds)))
    return ScoreInput(ref, 0.5 * ref, rate, text=text, language=language)


def make_scorer(recognizer):
    return TranscriptScorer("fake_asr", "fake", "Fake, en", "a fake recogniser", recognizer,
                            languages=("en",), display_name="FakeASR")


def test_scorer_columns():
    scorer = make_scorer(FakeRecognizer("", ""))
    assert [column.name for column in scorer.columns] == [
        "wer_fake", "cer_fake", "ref_wer_fake", "ref_cer_fake"]
    assert scorer.columns[0].label == "WER (Fake, en)"
    assert not any(column.higher_is_better for column in scorer.columns)
    assert "fake_transcript" in scorer.details and "fake_words" in scorer.details


def test_scorer_with_transcript():
    recognizer = FakeRecognizer(ref_says="the cat sat on the mat", hyp_says="the cat sat on a hat")
    values = make_scorer(recognizer).score(make_item(text="The cat sat on the mat."))
    assert values["wer_fake"] == pytest.approx(2 / 6)
    assert values["ref_wer_fake"] == 0.0 and values["ref_cer_fake"] == 0.0
    assert values["cer_fake"] == pytest.approx(3 / 17)   # "themat" -> "ahat": 1 sub + 2 del
    assert values["fake_reference_kind"] == "text"
    assert values["fake_reference"] == "The cat sat on the mat."
    assert values["fake_transcript"] == "the cat sat on a hat"
    assert values["fake_ref_transcript"] == "the cat sat on the mat"
    assert (values["fake_word_errors"], values["fake_words"]) == (2, 6)
    assert values["fake_chars"] == 17
    assert recognizer.calls == [(16000, "en"), (16000, "en")]   # both at 16 kHz


def test_scorer_without_transcript():
    recognizer = FakeRecognizer(ref_says="one two three four", hyp_says="one two tree")
    values = make_scorer(recognizer).score(make_item())
    assert values["wer_fake"] == 0.5                               # 1 sub + 1 deletion of 4
    assert values["fake_reference"] == "one two three four"
    assert values["fake_reference_kind"] == "audio"
    assert not any(key.startswith("ref_") for key in values)       # no floor without text
    assert "fake_ref_transcript" not in values


def test_scorer_skips():
    scorer = make_scorer(FakeRecognizer("words", "words"))
    with pytest.raises(MetricSkipped, match="FakeASR has no fr model"):
        scorer.score(make_item(text="bonjour", language="fr"))
    with pytest.raises(MetricSkipped, match="no word"):
        scorer.score(make_item(text=" ... "))
    with pytest.raises(MetricSkipped, match="no word"):
        scorer.score(make_item(text=""))
    silent_reference = make_scorer(FakeRecognizer(ref_says="", hyp_says="words"))
    with pytest.raises(MetricSkipped, match="FakeASR heard no word in the reference audio"):
        silent_reference.score(make_item())
    # an empty hypothesis transcript is scored: every reference word is an error
    values = make_scorer(FakeRecognizer("a b", "")).score(make_item(text="a b"))
    assert values["wer_fake"] == 1.0 and values["cer_fake"] == 1.0
