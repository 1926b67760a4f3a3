"""How far a streamed decode is from one-pass decoding, on real speech: the measurement behind the
streaming decoder's lookahead table (docs/streaming.md), beside decoding pieces
by hand and cutting them apart (what a pipeline without a streaming decoder does).

Each utterance is encoded once; its tokens are decoded in one pass and through a
:class:`~simvq_audio.codec.streaming_decoder.StreamingDecoder` fed ``feed`` tokens at a time
with a given lookahead and context. The streamed audio is scored against the one-pass audio:
SNR in dB, multi-resolution log-mel distance, wideband PESQ (one pass as the reference), and its
largest sample-to-sample jump over the one-pass signal's own (a click at a seam would raise it
above 1). Beside them: the latency the lookahead implies, the backbone frames computed per frame
of audio, and the measured decode time per second of audio, streamed and in one pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from simvq_audio.codec import SimVQCodec
from simvq_audio.codec.streaming_decoder import StreamingDecoder
from simvq_audio.metrics.mel_distance import mel_distance
from simvq_audio.metrics.pairs import MetricSkipped
from simvq_audio.metrics.pesq_wb import wideband_pesq


@dataclass(frozen=True)
class StreamSetting:
    """``lookahead`` and ``context`` in frames (paper decoder; 0 for a causal one) and the
    tokens given to each ``feed``. ``by_hand``: instead of the streaming decoder, what a
    pipeline without one does: each piece of ``feed`` tokens decoded with up to ``context``
    tokens before it and ``lookahead`` after it, its own audio cut out and the pieces joined
    (for comparison)."""

    lookahead: int
    context: int
    feed: int = 1
    by_hand: bool = False


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """``10 log10(sum reference^2 / sum (estimate - reference)^2)``; ``inf`` when equal."""
    error = float(np.sum((estimate - reference) ** 2))
    power = float(np.sum(reference ** 2))
    return math.inf if error == 0 else 10 * math.log10(max(power, 1e-30) / error)


def stream(codec: SimVQCodec, ids: torch.Tensor, setting: StreamSetting) -> torch.Tensor:
    """Ids ``[F]`` fed ``setting.feed`` at a time, then flushed -> ``wav [F * hop]``."""
    if setting.by_hand:
        return decode_by_hand(codec, ids, setting)
    decoder = streaming_decoder(codec, setting)
    pieces = [decoder.feed(ids[start:start + setting.feed])
              for start in range(0, len(ids), setting.feed)]
    pieces.append(decoder.flush())
    return torch.cat(pieces, dim=-1)[0]


def streaming_decoder(codec: SimVQCodec, setting: StreamSetting) -> StreamingDecoder:
    """The codec's stream with ``setting``'s lookahead and context (a causal decoder has
    neither)."""
    if codec.model.decoder.causal:
        return codec.streaming_decoder()
    return codec.streaming_decoder(lookahead_frames=setting.lookahead,
                                   context_frames=setting.context)


def decode_by_hand(codec: SimVQCodec, ids: torch.Tensor, setting: StreamSetting
                   ) -> torch.Tensor:
    """Ids ``[F]`` -> ``wav [F * hop]``: pieces of ``setting.feed`` tokens, each decoded in one
    pass with its context and lookahead tokens and cut out of that decode."""
    hop, pieces = codec.hop_length, []
    for start in range(0, len(ids), setting.feed):
        stop = min(len(ids), start + setting.feed)
        low = max(0, start - setting.context)
        wav = codec.decode(ids[low:min(len(ids), stop + setting.lookahead)])
        pieces.append(wav[(start - low) * hop:(stop - low) * hop])
    return torch.cat(pieces)


def backbone_frames_per_frame(setting: StreamSetting, causal: bool) -> float:
    """Backbone frames computed per frame of audio in a long stream: a causal decoder computes
    each frame once; the paper decoder reruns its window (``context + feed + lookahead``
    frames) for every ``feed`` new ones."""
    if causal:
        return 1.0
    return (setting.context + setting.feed + setting.lookahead) / setting.feed


def measure(codec: SimVQCodec, waveforms: Sequence[torch.Tensor],
            settings: Iterable[StreamSetting]) -> Iterator[dict]:
    """One row per setting, yielded as it is measured (the tokens and one-pass audio are made
    once, first): means over ``waveforms`` (mono ``[T]`` at the codec's rate) of
    ``snr_db``, ``mel_distance``, ``pesq`` (utterances PESQ cannot score are left out and
    counted in ``pesq_skipped``), the largest ``jump_ratio`` and the lowest ``snr_db_min``;
    ``latency_ms``; ``backbone_frames_per_frame``; ``stream_rtf`` and ``one_pass_rtf``
    (decode seconds per second of audio)."""
    rate, causal = codec.sample_rate, codec.model.decoder.causal
    ids = [codec.encode(wav, rate).ids[0] for wav in waveforms]
    audio_seconds = sum(len(item) for item in ids) * codec.hop_length / rate
    start = time.perf_counter()
    one_pass = [codec.decode(item).numpy() for item in ids]
    one_pass_rtf = (time.perf_counter() - start) / audio_seconds
    for setting in settings:
        start = time.perf_counter()
        streamed = [stream(codec, item, setting).numpy() for item in ids]
        stream_rtf = (time.perf_counter() - start) / audio_seconds
        snrs, mels, pesqs, jumps, skipped = [], [], [], [], 0
        for reference, estimate in zip(one_pass, streamed):
            snrs.append(snr_db(reference, estimate))
            mels.append(mel_distance(reference, estimate, rate))
            jumps.append(float(np.abs(np.diff(estimate)).max())
                         / max(float(np.abs(np.diff(reference)).max()), 1e-12))
            try:
                pesqs.append(wideband_pesq(reference, estimate, rate))
            except MetricSkipped:
                skipped += 1
        yield {"lookahead": setting.lookahead, "context": setting.context,
               "feed": setting.feed, "by_hand": setting.by_hand,
               "latency_ms": streaming_decoder(codec, setting).latency_ms,
               "snr_db": float(np.mean(snrs)), "snr_db_min": float(np.min(snrs)),
               "mel_distance": float(np.mean(mels)),
               "pesq": float(np.mean(pesqs)) if pesqs else None,
               "pesq_skipped": skipped, "jump_ratio": float(np.max(jumps)),
               "backbone_frames_per_frame": backbone_frames_per_frame(setting, causal),
               "stream_rtf": stream_rtf, "one_pass_rtf": one_pass_rtf,
               "utterances": len(ids), "audio_seconds": audio_seconds}
