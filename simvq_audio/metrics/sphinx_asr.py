"""WER/CER with PocketSphinx (scorer ``sphinx_asr``, columns ``wer_sphinx``, ``cer_sphinx``): an
offline recogniser whose US-English models ship inside the ``pocketsphinx`` wheel, so it runs on
any machine with no download.

PocketSphinx 5's packaged models: the ``en-us`` continuous-density acoustic model, the
``en-us.lm.bin`` trigram language model and the ``cmudict-en-us.dict`` dictionary. Each
utterance is one decode of 16 kHz int16 samples (the waveform clipped to [-1, 1] and scaled by
32767), with cepstral mean normalisation over the whole utterance (``full_utt``), so a transcript
does not depend on the utterances decoded before it. English only: utterances in any other
language are skipped with the reason. It is a weak recogniser (a 2000s-era HMM-GMM system):
about 10-40 % WER on clean read speech, so its WER ranks codecs by how much they degrade
intelligibility rather than measuring it absolutely; compare against ``ref_wer_sphinx``, its
WER on the reference audio, when transcripts are given. The search keeps at most 3000 active
HMMs per frame (:data:`MAX_HMMS_PER_FRAME`, the package's default is 30000): the same WER on our
English test prompts, clean and noisy, in half the time on degraded speech. About 0.15 CPU
seconds per second of clean speech on one thread, 0.25 on noisy speech.
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np

from simvq_audio.metrics.asr import ASR_RATE, TranscriptScorer
from simvq_audio.metrics.scorers import ScorerOptions, ScorerUnavailable

NAME = "sphinx_asr"
ASR = "sphinx"
LANGUAGE = "en"
ACOUSTIC_MODEL = "en-us/en-us"               # inside pocketsphinx.get_model_path()
LANGUAGE_MODEL = "en-us/en-us.lm.bin"
DICTIONARY = "en-us/cmudict-en-us.dict"
INT16_SCALE = 32767
MAX_HMMS_PER_FRAME = 3000   # PocketSphinx's speed cap on active HMMs (default 30000): on egs/mini's
                            # 12 English test prompts the same WER clean and at 10 dB SNR (0.333,
                            # 0.795), 1.5x faster on clean and 2x on noisy speech
LOG_LEVEL = "FATAL"                          # PocketSphinx logs every decode at INFO
INSTALL = "install it with `pip install 'pocketsphinx>=5.1'` (extra simvq-audio[eval])"


class SphinxRecognizer:
    """A PocketSphinx decoder with the packaged US-English models, one utterance per call."""

    def __init__(self):
        # optional (the eval extra): imported when the scorer loads
        from pocketsphinx import Decoder, get_model_path

        self.decoder = Decoder(hmm=get_model_path(ACOUSTIC_MODEL),
                               lm=get_model_path(LANGUAGE_MODEL),
                               dict=get_model_path(DICTIONARY),
                               samprate=ASR_RATE, maxhmmpf=MAX_HMMS_PER_FRAME,
                               loglevel=LOG_LEVEL)

    def __call__(self, wav: np.ndarray, language: str = LANGUAGE) -> str:
        """Transcript of ``wav [T]`` (float, 16 kHz), lower-case words; ``""`` if none."""
        samples = np.round(np.clip(wav, -1.0, 1.0) * INT16_SCALE).astype("<i2")
        self.decoder.start_utt()
        self.decoder.process_raw(samples.tobytes(), no_search=False, full_utt=True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""


def load(options: ScorerOptions) -> TranscriptScorer:
    """The ``sphinx_asr`` scorer (``options`` are not used: the models are in the package).

    Raises:
        ScorerUnavailable: ``pocketsphinx`` is not installed or its models do not load.
    """
    try:
        import pocketsphinx  # noqa: F401  (optional: the eval extra)
    except ImportError:
        raise ScorerUnavailable(f"PocketSphinx is not installed: {INSTALL}") from None
    try:
        recognizer = SphinxRecognizer()
    except (RuntimeError, ValueError) as error:
        raise ScorerUnavailable(f"PocketSphinx could not load its packaged en-us models "
                                f"({error}): reinstall it, {INSTALL}") from None
    description = (f"PocketSphinx {version('pocketsphinx')} with its packaged US-English "
                   f"models ({ACOUSTIC_MODEL} acoustic model, {LANGUAGE_MODEL.split('/')[-1]} "
                   f"trigram LM, {DICTIONARY.split('/')[-1]}), 16 kHz, English only")
    return TranscriptScorer(NAME, ASR, f"PocketSphinx, {LANGUAGE}", description, recognizer,
                            languages=(LANGUAGE,), display_name="PocketSphinx")
