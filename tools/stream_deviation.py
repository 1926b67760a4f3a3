#!/usr/bin/env python
"""Streamed against one-pass decoding of a trained codec on real speech, for several lookaheads.

For each model (an exported model dir or a training checkpoint folder) and each lookahead and
context (frames; the paper decoder's stream settings, a causal decoder has none), the utterances
of --data-dir are encoded, decoded in one pass and through the streaming decoder fed --feed
tokens at a time, and compared (simvq_audio/study/stream_deviation.py): SNR and mel distance of
the streamed audio to the one-pass audio, PESQ with the one pass as reference, the largest
sample jump over the one pass's own (above 1: a click), the latency the lookahead implies, the
backbone frames computed per frame of audio and the measured decode time per second of audio.
--by-hand adds the same rows for pieces decoded one by one and cut apart.

    .venv/bin/python tools/stream_deviation.py --data-dir egs/mini/data/test \\
        egs/mini/exp/tiny/model egs/mini/exp/tiny_causal/model
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from code_geometry import load_codec

from simvq_audio.corpora.command import run_command
from simvq_audio.study import sources
from simvq_audio.study.stream_deviation import StreamSetting, measure


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tools/stream_deviation.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("models", type=Path, nargs="+",
                        help="exported model dirs or training checkpoint folders")
    parser.add_argument("--data-dir", type=Path, required=True,
                        help="Kaldi data dir of the speech to encode (e.g. the test set)")
    parser.add_argument("--lookaheads", type=int, nargs="+", default=[0, 1, 2, 5, 10, 25, 50])
    parser.add_argument("--contexts", type=int, nargs="+", default=[75],
                        help="decoded frames kept before each window (every pair is measured)")
    parser.add_argument("--feed", type=int, default=1, help="tokens per feed")
    parser.add_argument("--by-hand", action="store_true",
                        help="paper decoder: also decode each feed's tokens by hand (one pass "
                             "with the context and lookahead tokens, its audio cut out)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="use about this much of the data dir's audio (default: all)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    waveforms = sources.read_waveforms(args.data_dir, args.max_seconds, seed=0)
    print(f"{len(waveforms)} utterances of {args.data_dir}, feeds of {args.feed} token(s)")
    print("| model | lookahead | context | latency ms | SNR dB (min) | mel distance | PESQ | "
          "largest jump / one pass's | backbone frames per frame | stream RTF | one-pass RTF |"
          "\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = {}
    for path in args.models:
        codec = load_codec(path)
        settings = ([StreamSetting(0, 0, args.feed)] if codec.model.decoder.causal else
                    [StreamSetting(lookahead, context, args.feed, by_hand)
                     for by_hand in ([False, True] if args.by_hand else [False])
                     for context in args.contexts for lookahead in args.lookaheads])
        results[str(path)] = rows = []
        for row in measure(codec, waveforms, settings):  # each row printed when done
            rows.append(row)
            how = " (by hand, cut)" if row["by_hand"] else ""
            print(f"| {path}{how} | {row['lookahead']} | {row['context']} | "
                  f"{row['latency_ms']:.1f} | {row['snr_db']:.1f} ({row['snr_db_min']:.1f}) | "
                  f"{row['mel_distance']:.3f} | {_cell(row['pesq'], 2)} | "
                  f"{row['jump_ratio']:.2f} | {row['backbone_frames_per_frame']:.0f} | "
                  f"{row['stream_rtf']:.3f} | {row['one_pass_rtf']:.4f} |", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    run_command("stream_deviation", main)
