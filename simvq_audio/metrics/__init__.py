"""Evaluation of a codec the way the SimVQ paper reports it, one metric per module.

Signal metrics (each ``metric(ref, hyp, sample_rate) -> float`` on 1-D float arrays, raising
:class:`~simvq_audio.metrics.pairs.MetricSkipped` when an utterance cannot be scored):
``pesq_wb`` (wideband PESQ at 16 kHz), ``stoi`` (STOI and extended STOI at 10 kHz), ``si_sdr``,
``mel_distance`` (multi-resolution log-mel L1), ``voicing`` (V/UV F1 from pYIN).
Model metrics (``scorers``: a model loaded once per process, skipped with the reason when its
package or weights are missing): ``dnsmos`` (DNSMOS P.835 and P.808, speechmos's ONNX models),
``speaker_similarity`` (Resemblyzer), ``sphinx_asr`` (PocketSphinx WER/CER; the recogniser-free
part, text normalisation and edit distance, in ``asr``), and with the user's weights ``utmos``
(UTMOS22 strong on the ``wav2vec2`` encoder), ``whisper_asr`` and ``wavlm_speaker``.
Token metrics: ``codebook`` (utilisation, perplexity, usage entropy, bitrate).
Putting them together: ``utterance`` (all metrics of one pair), ``batch`` (many files in
parallel), ``summary`` (mean, 95 % confidence interval, skipped counts, markdown tables),
``compare`` (systems side by side), ``report_html`` (the listening page) and ``score_dirs``
(reading a scoring run back), ``plots`` (spectrograms, code usage, training curves).

The package imports nothing heavy here: ``pesq``, ``pystoi`` and ``librosa`` load with the
module that needs them.
"""
