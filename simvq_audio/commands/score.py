"""``simvq-audio score --ref REF --hyp HYP --out DIR``: judge a codec the way codec papers do.

Scores every reconstruction in HYP against the reference of the same id in REF (signal metrics,
and the model metrics whose package and weights are here) and writes ``scores.csv``,
``summary.json``, ``summary.md``, ``report.html`` and plots into DIR; under ``accelerate launch``
the processes share the utterances. REF and HYP are directories, Kaldi data dirs, ``wav.scp``
files or single files.

This module parses the arguments; the work, the output policy and the accelerate sharding are
those of :func:`simvq_audio.metrics.score_corpus.score_corpus` (its module docstring says what
each file holds).
"""

from __future__ import annotations

import argparse

from simvq_audio.commands.arg_types import non_negative_int, positive_float, positive_int
from simvq_audio.errors import UserInputError
from simvq_audio.metrics.scorers import SCORERS, ScorerOptions

NAME = "score"
HELP = ("score reconstructions against references (PESQ, STOI, V/UV F1, DNSMOS, speaker "
        "similarity, WER, UTMOS, ..., code utilisation)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", required=True, help="reference audio: a directory, a Kaldi data "
                        "dir, a wav.scp or one file")
    parser.add_argument("--hyp", required=True, help="reconstructed audio, same forms as --ref")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--codes", help="directory of the tokens, one .codes (or .npy) file per "
                        "utterance: adds codebook utilisation, perplexity, entropy and bitrate")
    parser.add_argument("--num-codes", type=positive_int,
                        help="codebook size (needed for .npy tokens)")
    parser.add_argument("--tokens-per-second", type=positive_float,
                        help="token frame rate (needed for .npy tokens), e.g. 75")
    parser.add_argument("--nj", type=positive_int, default=1, help="parallel worker processes")
    parser.add_argument("--name", help="system name in summary.json (default: the --out folder)")
    parser.add_argument("--num-plots", type=non_negative_int, default=3,
                        help="utterances shown in spectrograms.png (0: no spectrogram plot)")
    parser.add_argument("--train-logs", help="TensorBoard log directory: also plot the "
                        "codebook/utilisation and codebook/perplexity curves")
    parser.add_argument("--model-metrics", default="auto",
                        help="comma-separated model metrics to run, of " + ", ".join(SCORERS)
                        + "; 'auto' (default): every one whose package and weights are here "
                        "(the others are named in the summary); 'none': signal metrics only")
    parser.add_argument("--language", default="en",
                        help="language (ISO 639-1) of utterances without an utt2lang entry [en]")
    parser.add_argument("--utmos-checkpoint", help="UTMOS22 strong weights (.pt state dict); "
                        "default: utmos22_strong_step7459_v1.pt in the torch hub cache "
                        "($TORCH_HOME/hub/checkpoints), fetched there by --allow-download; "
                        "without weights 'auto' skips UTMOS and the summary says where to put "
                        "them")
    parser.add_argument("--whisper-model", help="Whisper model name (in ~/.cache/whisper) or .pt "
                        "path [large-v3]")
    parser.add_argument("--wavlm-model", help="WavLM speaker-verification model: local directory "
                        "or Hugging Face id (from the cache) [microsoft/wavlm-base-plus-sv]")
    parser.add_argument("--allow-download", action="store_true",
                        help="download missing Whisper/WavLM/UTMOS weights (never by default)")
    parser.add_argument("--reference-cache", help="folder keeping model-metric values of the "
                        "references across runs (DNSMOS/UTMOS of the reference, its ASR "
                        "transcript; keyed by the samples and the model) [~/.cache/simvq-audio/"
                        "reference-scores]")
    parser.add_argument("--no-reference-cache", action="store_true",
                        help="compute the references' values every time, keep nothing")
    parser.add_argument("--report-spectrograms", type=non_negative_int, default=50,
                        help="utterances shown with spectrograms in report.html, worst first "
                        "(players are shown for all) [50]")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace report files in --out that were not scored from the same "
                        "--ref, --hyp and --codes (an input is never overwritten)")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the scoring API imports torch, which `score --help` must not
    # (1.5 s of start-up, docs/benchmarks.md).
    from simvq_audio.metrics import reference_cache, score_corpus

    names, required = _model_metric_names(args.model_metrics)
    cache = None if args.no_reference_cache else str(args.reference_cache
                                                     or reference_cache.default_folder())
    options = ScorerOptions(utmos_checkpoint=args.utmos_checkpoint,
                            whisper_model=args.whisper_model, wavlm_model=args.wavlm_model,
                            allow_download=args.allow_download, language=args.language,
                            reference_cache=cache)
    markdown = score_corpus.score_corpus(
        args.ref, args.hyp, args.out, options=options, model_metrics=names, required=required,
        codes=args.codes, num_codes=args.num_codes, tokens_per_second=args.tokens_per_second,
        processes=args.nj, name=args.name, num_plots=args.num_plots, train_logs=args.train_logs,
        report_spectrograms=args.report_spectrograms, overwrite=args.overwrite)
    if markdown is not None:
        print(markdown, end="")
    return 0


def _model_metric_names(spec: str) -> tuple[list[str], set[str]]:
    """``(names to load, names the user asked for by name)`` from ``--model-metrics``: a
    scorer asked for by name that cannot run is an error; under ``auto`` it is reported."""
    if spec == "auto":
        return list(SCORERS), set()
    if spec == "none":
        return [], set()
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCORERS]
    if unknown or not names:
        raise UserInputError(f"--model-metrics: unknown {', '.join(unknown) or 'empty list'}; "
                             f"choose from auto, none, {', '.join(SCORERS)}")
    return [name for name in SCORERS if name in names], set(names)
