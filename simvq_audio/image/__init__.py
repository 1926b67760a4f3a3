"""The companion image tokenizer: a VQGAN-style conv autoencoder around the same SimVQ quantizer
and nearest-code search as the audio codec (:mod:`simvq_audio.quantize`)."""
