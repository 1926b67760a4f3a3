"""The collapse study's training and held-out vectors, from whichever source is available."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from simvq_audio.errors import UserInputError
from simvq_audio.study import sources
from simvq_audio.study.mel_windows import FRAME_STEP, SAMPLE_RATE, MelWindows, hop_for

CORPORA = ("debian", "espeak", "synthetic")
"""Built-in sources when no data dirs are given (:class:`DataOptions`)."""
TRAIN_HOP = 64
"""Training windows are cut every 64 samples (4 shifts per mel frame step: augmentation)."""
MIN_STD = 0.1
"""Floor of the per-mel-bin std used to standardise (natural-log mel units). A bin that varies
less over the training set carries no signal (the empty band above 8 kHz of 16 kHz recordings,
at the log floor); dividing by its tiny std would turn another recording's slightly different
floor into errors of tens of standard deviations."""
SYNTHETIC_FINE_HOP = 32
"""The synthetic source makes enough held-out audio for the requested vectors at this hop."""


@dataclass
class StudyData:
    """Standardised training and held-out windows, and a JSON-ready ``description`` of them."""

    train: MelWindows
    heldout: MelWindows
    description: dict


@dataclass(frozen=True)
class DataOptions:
    """Where the audio comes from and how much of it is used.

    ``data_dir``/``heldout_dir``: Kaldi data dirs (both or neither). Without them ``corpus``
    says what is used (built under ``corpus_cache`` and reused by later runs):

    * ``"debian"``: real speech, the mini corpus of ``egs/mini`` stage 0 from Debian's archive
      (packages cached in ``archive_dir``, default ``corpus_cache/debian``), with
      ``train_minutes`` of training speech by its 4 voices; held-out = its dev split (the next
      ``dev_utts_per_voice`` prompts of each of those voices) + its test split (2 speakers never
      seen in training);
    * ``"espeak"``: the espeak-ng mini corpus (``utts_per_speaker``), 6 training speakers,
      held-out = its 4 dev + test speakers; the synthetic signal when espeak-ng is missing;
    * ``"synthetic"``: a synthetic speech-like signal (smoke tests; not speech).

    ``heldout_vectors``: windows wanted in the held-out set; ``train_seconds``: training audio cap.
    """

    data_dir: Path | None = None
    heldout_dir: Path | None = None
    corpus: str = "debian"
    corpus_cache: Path | None = None
    archive_dir: Path | None = None
    train_minutes: float = 20.0
    dev_utts_per_voice: int = 100
    utts_per_speaker: int = 30
    heldout_vectors: int = 1048576
    train_seconds: float = 1800.0
    context: int = 4
    seed: int = 0


def load_study_data(options: DataOptions, log: Callable[[str], None] = print) -> StudyData:
    """Read or make the audio, cut windows (training at :data:`TRAIN_HOP`, held-out at the
    coarsest hop that yields ``heldout_vectors``, then thinned evenly to exactly that many when
    there are more) and standardise both with the training set's per-mel-bin mean and std (at
    least :data:`MIN_STD`)."""
    source, train_wavs, heldout_wavs = _waveforms(options, log)
    lengths = [wav.numel() for wav in heldout_wavs]
    hop = hop_for(lengths, options.heldout_vectors, options.context)
    train = MelWindows(train_wavs, options.context, TRAIN_HOP)
    heldout = MelWindows(heldout_wavs, options.context, hop)
    heldout.keep(options.heldout_vectors)
    mean, std = bin_statistics(train.frames)
    train.standardise(mean, std)
    heldout.standardise(mean, std)
    description = {
        "source": source,
        "train_seconds": train.seconds, "train_utterances": len(train_wavs),
        "train_vectors": len(train), "train_hop_samples": TRAIN_HOP,
        "heldout_seconds": heldout.seconds, "heldout_utterances": len(heldout_wavs),
        "heldout_vectors": len(heldout), "heldout_hop_samples": hop,
        "heldout_frames_at_frame_step": round(heldout.seconds * SAMPLE_RATE / FRAME_STEP),
        "window": {"context_frames": options.context, "frame_step_samples": FRAME_STEP,
                   "n_mels": train.frames.shape[1], "dim": train.dim},
    }
    log(f"data: {source}; train {train.seconds / 60:.1f} min -> {len(train)} windows; held-out "
        f"{heldout.seconds / 60:.1f} min -> {len(heldout)} windows at a {hop}-sample hop")
    return StudyData(train, heldout, description)


def bin_statistics(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-mel-bin ``(mean, std)`` of ``frames [F, n_mels]``, the std at least :data:`MIN_STD`."""
    return frames.mean(0), frames.std(0).clamp_min(MIN_STD)


def _waveforms(options: DataOptions, log: Callable[[str], None]) -> tuple[str, list, list]:
    """``(source description, training waveforms, held-out waveforms)``."""
    if (options.data_dir is None) != (options.heldout_dir is None):
        raise UserInputError("give both --data-dir and --heldout-dir, or neither (then a mini "
                             "corpus is used, see --corpus)")
    if options.corpus not in CORPORA:
        raise UserInputError(f"unknown corpus {options.corpus!r}: one of {', '.join(CORPORA)}")
    if options.data_dir is not None:
        dirs, source = {"train": options.data_dir, "heldout": options.heldout_dir}, "data dirs"
    elif options.corpus == "synthetic" or (options.corpus == "espeak"
                                           and not sources.espeak_available()):
        if options.corpus == "espeak":
            log("espeak-ng is not installed: using the synthetic speech-like source instead")
        heldout_s = options.heldout_vectors * SYNTHETIC_FINE_HOP / SAMPLE_RATE * 1.1
        train_s = min(options.train_seconds, max(60.0, heldout_s))
        return ("synthetic speech-like signal",
                sources.synthetic_waveforms("train", train_s, options.seed),
                sources.synthetic_waveforms("heldout", heldout_s, options.seed))
    elif options.corpus_cache is None:
        raise UserInputError("the mini corpus needs a cache folder")
    elif options.corpus == "debian":
        dirs = sources.corpus_dirs(
            options.corpus_cache,
            f"debian_{options.train_minutes:g}min_dev{options.dev_utts_per_voice}",
            sources.debian_builder(options.archive_dir or options.corpus_cache / "debian",
                                   options.train_minutes, options.dev_utts_per_voice, log), log)
        source = (f"real speech, Debian archive mini corpus: {options.train_minutes:g} min of "
                  f"training speech by 4 voices; held-out = dev ({options.dev_utts_per_voice} "
                  "other prompts of each of those voices) + test (2 speakers never seen in "
                  "training)")
    else:
        dirs = sources.corpus_dirs(options.corpus_cache, f"espeak_{options.utts_per_speaker}",
                                   sources.espeak_builder(options.utts_per_speaker), log)
        source = (f"espeak-ng mini corpus, {options.utts_per_speaker} utterances per speaker: "
                  "6 training speakers, held-out = 4 other speakers (dev + test)")
    heldout_cap = options.heldout_vectors * FRAME_STEP / SAMPLE_RATE * 1.05
    return (f"{source}: train {dirs['train']}, held-out {dirs['heldout']}",
            sources.read_waveforms(dirs["train"], options.train_seconds, options.seed),
            sources.read_waveforms(dirs["heldout"], heldout_cap, options.seed))
