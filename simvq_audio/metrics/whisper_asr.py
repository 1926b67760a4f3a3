"""WER/CER with OpenAI Whisper (scorer ``whisper_asr``, columns ``wer_whisper``, ``cer_whisper``),
the recogniser the codec papers report, run by the ``openai-whisper`` package on weights the user
already has.

The weights: ``--whisper-model`` names a ``.pt`` checkpoint file, or a model name (default
``large-v3``) looked up where ``openai-whisper`` downloads it, ``$XDG_CACHE_HOME/whisper`` (else
``~/.cache/whisper``) under the file name of its download (``turbo`` is ``large-v3-turbo.pt``).
Nothing is downloaded unless the user allows it. The checkpoint is read with
``torch.load(weights_only=True)`` (tensors and plain containers only, no pickled code) and must
hold ``{"dims": ModelDimensions fields, "model_state_dict": ...}``, the layout of the published
checkpoints.

Decoding is deterministic: greedy at temperature 0 with no fallback to sampling, no timestamps,
no prompt from the previous 30 s window, fp32 on the CPU, in the utterance's language (no
language detection). Whisper's own silence rule is kept: a window whose no-speech probability is
above 0.6 while its average log-probability is below -1 gives no text.
"""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from simvq_audio.metrics.asr import TranscriptScorer
from simvq_audio.metrics.reference_cache import user_cache_home, weights_stamp
from simvq_audio.metrics.scorers import ScorerOptions, ScorerUnavailable

NAME = "whisper_asr"
ASR = "whisper"
DEFAULT_MODEL = "large-v3"
CHECKPOINT_SUFFIX = ".pt"
TEMPERATURE = 0.0
INSTALL = "install it with `pip install openai-whisper` (extra simvq-audio[paper-eval])"


def cache_dir() -> Path:
    """Where ``openai-whisper`` keeps downloaded models: ``$XDG_CACHE_HOME/whisper``, else
    ``~/.cache/whisper``."""
    return user_cache_home() / "whisper"


def is_checkpoint_path(model: str) -> bool:
    """Whether ``--whisper-model`` names a file (a ``.pt`` name, a path, an existing file)
    rather than a model name."""
    return (model.endswith(CHECKPOINT_SUFFIX) or os.sep in model or "/" in model
            or Path(model).is_file())


def cached_checkpoint(name: str) -> Path:
    """The file model ``name`` is downloaded to by ``openai-whisper``: the file name of its URL
    (``large-v3.pt``; ``turbo`` -> ``large-v3-turbo.pt``), ``<name>.pt`` for other names."""
    # optional (the paper-eval extra): imported when the scorer loads
    import whisper

    url = whisper._MODELS.get(name)
    return cache_dir() / (url.rsplit("/", 1)[-1] if url else name + CHECKPOINT_SUFFIX)


def download(name: str) -> Path:
    """Fetch official model ``name`` into :func:`cache_dir` with ``openai-whisper``'s downloader
    (which checks the SHA-256 in the URL). Raises :class:`ScorerUnavailable` on failure."""
    # optional (the paper-eval extra): imported when the scorer loads
    import whisper

    if name not in whisper._MODELS:
        raise ScorerUnavailable(f"Whisper: no model named {name!r} to download; official names: "
                                f"{', '.join(whisper.available_models())}")
    try:
        return Path(whisper._download(whisper._MODELS[name], str(cache_dir()), in_memory=False))
    except (OSError, RuntimeError) as error:
        raise ScorerUnavailable(f"Whisper: downloading {name} failed: {error}") from None


def load_checkpoint(path: Path):
    """The Whisper model stored at ``path`` (``{"dims", "model_state_dict"}``), built and filled
    here from a ``weights_only`` load, in eval mode on the CPU. Raises :class:`ScorerUnavailable`
    when the file is not such a checkpoint."""
    # optional (the paper-eval extra): imported when the scorer loads
    from whisper.model import ModelDimensions, Whisper

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        model = Whisper(ModelDimensions(**checkpoint["dims"]))
        model.load_state_dict(checkpoint["model_state_dict"])
    except Exception as error:     # unpickling refused, missing keys, shape mismatch, bad file
        raise ScorerUnavailable(f"Whisper: {path} is not a readable openai-whisper checkpoint "
                                f"({type(error).__name__}: {error})") from None
    return model.float().eval()


def resolve_checkpoint(options: ScorerOptions) -> tuple[str, Path]:
    """``(model label, checkpoint file)`` for ``options.whisper_model``, downloading it only if
    ``options.allow_download``. Raises :class:`ScorerUnavailable` naming the missing file."""
    model = options.whisper_model or DEFAULT_MODEL
    if is_checkpoint_path(model):
        path = Path(model).expanduser()
        if not path.is_file():
            raise ScorerUnavailable(f"Whisper: checkpoint {path} not found; pass an existing "
                                    f"openai-whisper .pt file with --whisper-model")
        return path.stem, path
    path = cached_checkpoint(model)
    if path.is_file():
        return model, path
    if not options.allow_download:
        raise ScorerUnavailable(
            f"Whisper: model {model} is not in the cache: {path} not found; put the "
            f"openai-whisper checkpoint there, pass a .pt file with --whisper-model, or allow "
            f"the download with --allow-download")
    return model, download(model)


class WhisperRecognizer:
    """A loaded Whisper model transcribing one utterance per call (see the module docstring)."""

    def __init__(self, model):
        self.model = model

    @property
    def languages(self) -> list[str]:
        """ISO 639-1 (and Whisper) codes of the languages the model has tokens for."""
        # optional (the paper-eval extra): imported when the scorer loads
        from whisper.tokenizer import LANGUAGES

        if not self.model.is_multilingual:
            return ["en"]
        return list(LANGUAGES)[:self.model.num_languages]

    def __call__(self, wav: np.ndarray, language: str) -> str:
        """Transcript of ``wav [T]`` (float32, 16 kHz) in ``language``."""
        # optional (the paper-eval extra): imported when the scorer loads
        import whisper

        with torch.inference_mode():
            result = whisper.transcribe(
                self.model, np.ascontiguousarray(wav, dtype=np.float32), verbose=None,
                temperature=TEMPERATURE, condition_on_previous_text=False, language=language,
                task="transcribe", without_timestamps=True, fp16=False)
        return result["text"].strip()


def load(options: ScorerOptions) -> TranscriptScorer:
    """The ``whisper_asr`` scorer on ``options.whisper_model`` (see the module docstring).

    Raises:
        ScorerUnavailable: ``openai-whisper`` is not installed, the checkpoint is not on disk
            (naming the file and ``--allow-download``), or it cannot be read.
    """
    try:
        import whisper  # noqa: F401  (optional: the paper-eval extra)
    except ImportError:
        raise ScorerUnavailable(f"openai-whisper is not installed: {INSTALL}") from None
    label, path = resolve_checkpoint(options)
    recognizer = WhisperRecognizer(load_checkpoint(path))
    description = (f"Whisper {label} ({weights_stamp(path)}), openai-whisper "
                   f"{version('openai-whisper')}: greedy decoding at temperature 0, no "
                   "timestamps, fp32 on the CPU")
    return TranscriptScorer(NAME, ASR, f"Whisper {label}", description, recognizer,
                            languages=recognizer.languages, display_name=f"Whisper {label}")
