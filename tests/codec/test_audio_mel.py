"""Mel front end: Slaney scale, filter shape and normalisation, spectrogram shapes."""

import math

import pytest
import torch

from simvq_audio.codec.mel import MelSpectrogram, hz_to_mel, mel_filters, mel_to_hz
from simvq_audio.errors import UserInputError


def test_slaney_scale_is_linear_below_1khz_and_log_above():
    hz = torch.tensor([0.0, 500.0, 1000.0, 2000.0, 8000.0], dtype=torch.float64)
    mel = hz_to_mel(hz)
    assert mel[1] == pytest.approx(500 * 3 / 200)
    assert mel[2] == pytest.approx(15.0)
    # log region: equal ratios of frequency give equal steps in mel
    assert (mel[4] - mel[3]).item() == pytest.approx(2 * (mel[3] - mel[2]).item())
    assert torch.allclose(mel_to_hz(mel), hz)


def test_filters_are_area_normalised_triangles():
    sample_rate, n_fft, n_mels = 24000, 4096, 40
    filters = mel_filters(sample_rate, n_fft, n_mels).double()
    assert filters.shape == (n_mels, n_fft // 2 + 1)
    assert (filters >= 0).all()
    bin_hz = sample_rate / n_fft
    # each triangle has peak height 2 / width and so unit area (in Hz) up to sampling error
    areas = filters.sum(dim=1) * bin_hz
    assert torch.allclose(areas, torch.ones(n_mels, dtype=torch.float64), atol=0.02)
    peaks = filters.argmax(dim=1)
    assert (peaks.diff() > 0).all()


def test_filters_respect_band_limits():
    filters = mel_filters(16000, 512, 20, f_min=300.0, f_max=4000.0)
    bin_hz = 16000 / 512
    nonzero = filters.sum(0) > 0
    freqs = torch.arange(filters.shape[1]) * bin_hz
    assert freqs[nonzero].min() > 300 and freqs[nonzero].max() < 4000


def test_bad_filter_arguments_are_refused():
    with pytest.raises(UserInputError, match="f_max"):
        mel_filters(16000, 512, 20, f_max=9000.0)


def test_mel_spectrogram_shape_and_tone_location():
    sample_rate, hop = 16000, 128
    mel = MelSpectrogram(sample_rate, n_fft=512, hop_length=hop, n_mels=64)
    t = torch.arange(sample_rate // 2) / sample_rate
    tone = torch.sin(2 * math.pi * 2000 * t)
    out = mel(torch.stack([tone, 0.5 * tone]))
    assert out.shape == (2, 64, 1 + tone.numel() // hop)
    band = out[0].mean(dim=1).argmax()
    assert band == mel.filters[:, round(2000 / (sample_rate / 512))].argmax()
    assert torch.allclose(out[1], 0.5 * out[0], atol=1e-4)
    with pytest.raises(UserInputError, match=r"\[B, T\]"):
        mel(tone)


def test_torchaudio_style_filters_are_unnormalised_htk_triangles():
    sample_rate, n_fft, n_mels = 24000, 1024, 100
    filters = mel_filters(sample_rate, n_fft, n_mels, style="torchaudio")
    assert filters.shape == (n_mels, n_fft // 2 + 1) and filters.dtype == torch.float32
    assert (filters >= 0).all() and (filters <= 1).all()
    # HTK band edges: 2595 log10(1 + f / 700), equally spaced from 0 to 12 kHz
    top = 2595 * math.log10(1 + 12000 / 700)
    centres = [700 * (10 ** (top * (i + 1) / (n_mels + 1) / 2595) - 1) for i in range(n_mels)]
    bin_hz = 12000 / (n_fft // 2)
    for row in (10, 50, 99):  # the peak is the bin nearest the centre, and nearly 1 there
        assert abs(filters[row].argmax().item() * bin_hz - centres[row]) <= bin_hz / 2 + 1e-3
        assert filters[row].max() > 0.5
    assert not torch.allclose(filters, mel_filters(sample_rate, n_fft, n_mels))
    with pytest.raises(UserInputError, match="style"):
        mel_filters(sample_rate, n_fft, n_mels, style="kaldi")


def test_torchaudio_style_centres_frames_by_reflection():
    wav = torch.randn(1, 4000)
    ours = MelSpectrogram(16000, 512, 128, 40, style="torchaudio")(wav)
    padded = torch.nn.functional.pad(wav[None], (256, 256), mode="reflect")[0]
    frames = padded.unfold(-1, 512, 128) * torch.hann_window(512)
    spec = torch.fft.rfft(frames).abs()                                    # [1, frames, F]
    torch.testing.assert_close(ours, (spec @ mel_filters(16000, 512, 40, style="torchaudio").T)
                               .transpose(1, 2))
    librosa_style = MelSpectrogram(16000, 512, 128, 40)(wav)
    assert not torch.allclose(librosa_style[..., 0], ours[..., 0])
