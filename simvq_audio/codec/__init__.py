"""The speech codec, all of it: its neural parts, inference, streaming, files and training.

* Parts: :mod:`~.config` (the YAML schema), :mod:`~.encoder` (causal SEANet) and :mod:`~.conv`,
  :mod:`~.named_parts` (layers reached by name, saved under their historical keys),
  :mod:`~.decoder` (Vocos-style, paper or causal) and :mod:`~.istft`, :mod:`~.model` (encoder ->
  quantizer -> decoder), :mod:`~.mel`, :mod:`~.losses`, :mod:`~.discriminators`,
  :mod:`~.param_count`.
* Inference: :mod:`~.simvq_codec` (:class:`SimVQCodec`), :mod:`~.tokens` (:class:`Tokens`,
  :class:`TokenRow`), :mod:`~.streaming_encoder`, :mod:`~.streaming_decoder` (both carry a
  :mod:`~.stream_state`), :mod:`~.encode_files`, :mod:`~.files` (the file API: encode and
  decode files under the output policy; the CLI calls it), :mod:`~.onnx_export`.
* Training (run by the modality-neutral :mod:`simvq_audio.train`): :mod:`~.training` (the
  task), :mod:`~.train_step`, :mod:`~.train_data`, :mod:`~.validation`, :mod:`~.export`.

``from simvq_audio.codec import SimVQCodec, Tokens`` is the public entry point.
"""

from simvq_audio.codec.simvq_codec import SimVQCodec
from simvq_audio.codec.tokens import TokenRow, Tokens

__all__ = ["SimVQCodec", "TokenRow", "Tokens"]
