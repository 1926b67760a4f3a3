"""G.722 decoding: duration, level and spectrum of a known signal; one clear line without the
decoder."""

from __future__ import annotations

import builtins

import G722  # the mini extra, part of the test extra
import numpy as np
import pytest
import torch

from simvq_audio.corpora.g722 import decode_g722
from simvq_audio.errors import UserInputError


def encode(signal: np.ndarray) -> bytes:
    """``signal`` float in [-1, 1] at 16 kHz -> a 64 kbit/s G.722 stream."""
    return G722.G722(16000, 64000).encode((signal * 32767).astype(np.int16))


def test_a_tone_decodes_to_its_duration_level_and_frequency():
    t = np.arange(16000) / 16000
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t) + 0.1 * np.sin(2 * np.pi * 6000 * t)
    data = encode(tone)
    assert len(data) == 8000, "64 kbit/s: 8000 bytes per second"
    wav = decode_g722(data)
    assert wav.shape == (1, 16000) and wav.dtype == torch.float32
    assert wav.abs().max() <= 1.0
    steady = wav[0, 1000:].numpy()  # after the codec's start-up
    assert np.sqrt(np.mean(steady ** 2)) == pytest.approx(np.sqrt(0.5 ** 2 / 2 + 0.1 ** 2 / 2),
                                                          rel=0.1)
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady))))
    freqs = np.fft.rfftfreq(len(steady), 1 / 16000)
    assert freqs[spectrum.argmax()] == pytest.approx(1000, abs=5)
    upper = spectrum[freqs > 4000]
    assert freqs[freqs > 4000][upper.argmax()] == pytest.approx(6000, abs=5), "the upper band"


def test_silence_stays_silent_and_empty_stays_empty():
    assert decode_g722(encode(np.zeros(1600))).abs().max() < 1e-3
    assert decode_g722(b"").shape == (1, 0)


def test_missing_decoder_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_g722(name, *args, **kwargs):
        if name == "G722":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_g722)
    with pytest.raises(UserInputError, match=r"pip install 'simvq-audio\[mini\]'"):
        decode_g722(b"\x00" * 10)
