"""The audio formats simvq-audio writes, named by their file name endings: the one list that the
writer (:func:`simvq_audio.data.audio_io.output_format`), its error message and the commands'
help all use. No imports, so that ``--help`` can read it without loading torch or soundfile."""

OUTPUT_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"),
                  ".ogg": ("OGG", "VORBIS"), ".oga": ("OGG", "VORBIS"),
                  ".opus": ("OGG", "OPUS"), ".mp3": ("MP3", "MPEG_LAYER_III")}
"""File name ending -> (soundfile format, subtype) of the audio files simvq-audio writes."""
OUTPUT_SUFFIXES = ", ".join(OUTPUT_FORMATS)
"""The endings of :data:`OUTPUT_FORMATS` as help and messages list them."""
