"""Model-based metrics ("scorers"): a model loaded once per process, then applied to every
utterance (DNSMOS, speaker similarity, ASR word error rate, UTMOS).

A scorer module exposes ``load(options: ScorerOptions) -> Scorer`` and raises
:class:`ScorerUnavailable` (with the reason and what to install or where to put the weights)
when it cannot run here: a package that is not installed, weights that are not on disk. ``score``
then skips that scorer and names the reason in the summary.

The registry :data:`SCORERS` maps each scorer name to its module; :func:`load_scorers` loads
the requested ones and returns the reasons of those it could not load.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:       # this module is imported by ``score --help``: nothing heavy at import
    import numpy as np

    from simvq_audio.metrics.reference_cache import ReferenceCache

Value = TypeVar("Value")


@dataclass(frozen=True)
class Column:
    """A numeric result column: ``name`` in ``scores.csv``, ``label`` in tables, and its
    direction."""

    name: str
    label: str
    higher_is_better: bool

    @property
    def heading(self) -> str:
        """The label with its direction, ``"PESQ-wb ↑"``."""
        return f"{self.label} {'↑' if self.higher_is_better else '↓'}"


@dataclass(frozen=True)
class ScorerOptions:
    """What the user told ``score`` about the optional models (all picklable: workers load the
    scorers themselves).

    Attributes:
        utmos_checkpoint: a local UTMOS22 strong state dict (``.pt``); ``None``: look in the
            torch hub cache.
        whisper_model: a Whisper model name (looked up in ``~/.cache/whisper``) or a local
            ``.pt`` checkpoint path; ``None``: the default name, if it is cached.
        wavlm_model: a local directory or Hugging Face id of a WavLM speaker-verification model;
            ``None``: the default id, if it is in the Hugging Face cache.
        allow_download: fetch missing weights (only when the user asks; never by default).
        language: ISO 639-1 code of utterances that have no ``utt2lang`` entry.
        reference_cache: folder of a :class:`~simvq_audio.metrics.reference_cache.ReferenceCache`
            (``None``: reference-side values are computed every time).
    """

    utmos_checkpoint: str | None = None
    whisper_model: str | None = None
    wavlm_model: str | None = None
    allow_download: bool = False
    language: str = "en"
    reference_cache: str | None = None


class ScorerUnavailable(Exception):
    """A scorer cannot run on this machine; ``str(error)`` is the reason and the remedy."""


@dataclass
class ScoreInput:
    """One utterance as every scorer sees it.

    Attributes:
        ref: reference waveform ``[T]`` (float64, mono), truncated to the hypothesis' length.
        hyp: decoded waveform ``[T]`` (float64, mono), same length and rate as ``ref``.
        sample_rate: the rate of both.
        text: the reference transcript (data dir ``text``), or ``None``.
        language: ISO 639-1 code of the utterance (``utt2lang``, else the option's default).
        reference_cache: where reference-side values are kept across runs (``None``: nowhere).
    """

    ref: np.ndarray
    hyp: np.ndarray
    sample_rate: int
    text: str | None = None
    language: str = "en"
    reference_cache: ReferenceCache | None = None
    _resampled: dict = field(default_factory=dict, repr=False)

    def at(self, rate: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ref [T'], hyp [T'])`` at ``rate`` (soxr HQ), computed once per rate."""
        # here, not at the top: it imports torch/numpy, and `score --help` reads this module
        from simvq_audio.metrics.pairs import at_rate

        if rate not in self._resampled:
            self._resampled[rate] = (at_rate(self.ref, self.sample_rate, rate),
                                     at_rate(self.hyp, self.sample_rate, rate))
        return self._resampled[rate]

    def of_reference(self, what: str, rate: int, compute: Callable[[], Value]) -> Value:
        """``compute()``, a value ``what`` (scorer description and quantity) of the reference at
        ``rate``, from :attr:`reference_cache` when it has it (see
        :mod:`simvq_audio.metrics.reference_cache`)."""
        if self.reference_cache is None:
            return compute()
        return self.reference_cache.get(what, self.at(rate)[0], rate, compute)


class Scorer(Protocol):
    """A loaded model metric.

    Attributes:
        name: registry name (the key in a row's ``skipped`` when it cannot score an utterance).
        description: what model and version it runs, for the summary (e.g. ``"DNSMOS P.835 +
            P.808, ONNX models of speechmos 0.0.1.1"``).
        columns: the numeric values ``score`` returns.
        details: extra non-averaged values ``score`` may return (transcripts, error counts).
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    details: tuple[str, ...]

    def score(self, item: ScoreInput) -> dict[str, float | int | str]:
        """Values for ``columns`` (and ``details``) of one utterance. Raises
        :class:`~simvq_audio.metrics.pairs.MetricSkipped` with the reason when this utterance
        cannot be scored (e.g. a language the ASR model does not know)."""


# name -> module exposing load(options) -> Scorer; order is the order of the table columns.
SCORERS: dict[str, str] = {
    "utmos": "simvq_audio.metrics.utmos",
    "dnsmos": "simvq_audio.metrics.dnsmos",
    "speaker_similarity": "simvq_audio.metrics.speaker_similarity",
    "wavlm_speaker": "simvq_audio.metrics.wavlm_speaker",
    "sphinx_asr": "simvq_audio.metrics.sphinx_asr",
    "whisper_asr": "simvq_audio.metrics.whisper_asr",
}


@dataclass
class LoadedScorers:
    """The scorers of one run: those loaded in this process (``scorers``), the reasons of those
    that could not be (``unavailable``), and what a worker process needs to load the same ones
    (the names of ``scorers`` and ``options``)."""

    scorers: list[Scorer]
    unavailable: dict[str, str]
    options: ScorerOptions

    @property
    def names(self) -> list[str]:
        return [scorer.name for scorer in self.scorers]

    @property
    def columns(self) -> list[Column]:
        return [column for scorer in self.scorers for column in scorer.columns]

    @property
    def details(self) -> list[str]:
        return [detail for scorer in self.scorers for detail in scorer.details]

    @property
    def reference_cache(self) -> ReferenceCache | None:
        # here, not at the top: it imports torch/numpy, and `score --help` reads this module
        from simvq_audio.metrics.reference_cache import ReferenceCache

        folder = self.options.reference_cache
        return None if folder is None else ReferenceCache(folder)


def load_scorers(names: list[str], options: ScorerOptions) -> LoadedScorers:
    """Load the scorers ``names`` (keys of :data:`SCORERS`, in that order); each one that is
    unavailable is left out with its reason."""
    loaded, unavailable = [], {}
    for name in names:
        module = importlib.import_module(SCORERS[name])
        try:
            loaded.append(module.load(options))
        except ScorerUnavailable as reason:
            unavailable[name] = str(reason)
    return LoadedScorers(loaded, unavailable, options)
