"""Tokenizing whole corpora: ``simvq-audio tokenize`` in shards, resumable, over many processes.

The data path: :func:`simvq_audio.data.utterances.list_utterances` (the utterances, as encode and
score list them) -> :mod:`.plan` (durations, id-sorted shards, length-sorted batches; the same for
any number of processes) -> :mod:`simvq_audio.codec.encode_files` (files -> tokens, shared with
``simvq-audio encode``) -> :mod:`.shard_files` (ark/scp and parquet, atomic) -> :mod:`.markers` (a
done marker per shard with checksums) -> :mod:`.finalize` (merged ``tokens.scp``, complete
:mod:`.index`) and :mod:`.verify`. :mod:`.runner` drives one process's shards; :mod:`.reader`
(:func:`read_tokens`) gives the rows back for :meth:`SimVQCodec.decode`.

An output directory ``OUT``::

    OUT/index.json                model hash + config, plan (with whether the data dir had
                                  text and utt2spk), formats, totals, failures
    OUT/tokens.scp                all shards' scp lines, in id order (ark formats)
    OUT/ark/shard-00000.ark/.scp  Kaldi int32 vectors (kaldiio.load_scp reads them)
    OUT/parquet/shard-00000.parquet  utt_id, tokens, num_frames, num_samples, sample_rate,
                                  model_hash, text, speaker (pandas, HuggingFace datasets)
    OUT/done/shard-00000.json     done marker: counts, sha256 per file, failures
"""

from simvq_audio.tokenize.reader import read_tokens

__all__ = ["read_tokens"]
