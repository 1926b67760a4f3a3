"""Evaluation of a codec the way the SimVQ paper reports it, one metric per module.

Signal metrics (each ``metric(ref, hyp, sample_rate) -> float`` on 1-D float arrays, raising
:class:`~simvq_audio.metrics.pairs.MetricSkipped` when an utterance cannot be scored):
``pesq_wb`` (wideband PESQ at 16 kHz), ``stoi`` (STOI and extended STOI at 10 kHz), ``si_sdr``,
``mel_distance`` (multi-resolution log-mel L1), ``voicing`` (V/UV F1 from pYIN).
Token metrics: ``codebook`` (utilisation, perplexity, usage entropy, bitrate).
Putting them together: ``utterance`` (all metrics of one pair), ``batch`` (many files in
parallel), ``summary`` (mean, 95 % confidence interval, skipped counts, markdown tables),
``plots`` (spectrograms, code usage, training curves).

The package imports nothing heavy here: ``pesq``, ``pystoi`` and ``librosa`` load with the
module that needs them.
"""
