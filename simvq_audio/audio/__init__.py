"""The audio codec's neural parts: log-mel front end, causal encoder, Vocos-style decoder,
discriminators, losses and the generator that joins them to a quantizer.

Kept free of imports so that ``from simvq_audio.audio.mel import MelSpectrogram`` stays cheap.
"""
