"""The four discriminator families: outputs, feature-map conventions, period padding,
rectangular-window STFTs, DAC preprocessing, float32 STFTs under autocast.

Parity of the paper-size networks with the SimVQ reference: tests/codec/test_audio_parity.py.
"""


import pytest
import torch
import torch.nn.functional as F

from simvq_audio.codec.config import DiscriminatorsConfig, load_config
from simvq_audio.codec.discriminators import MultiDiscriminator
from simvq_audio.codec.discriminators.family import dac_preprocess
from simvq_audio.codec.discriminators.period import PeriodDiscriminator
from simvq_audio.errors import UserInputError

from repo_paths import RECIPES

FAMILIES = ("multi_period", "multi_resolution", "dac_multi_period", "dac_multi_band")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return MultiDiscriminator.from_hparams(load_config(RECIPES / "tiny.yaml").discriminators)


def capture_inputs(module: torch.nn.Module) -> tuple[list[torch.Tensor], object]:
    seen = []
    handle = module.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach()))
    return seen, handle


# maps per sub-discriminator: Vocos MPD 4 hidden (not the first) + logits; Vocos MRD 5 + logits;
# DAC MPD 5 hidden; DAC MRD 5 per band x 5 bands
@pytest.mark.parametrize("family,count,maps", [("multi_period", 3, 5), ("multi_resolution", 2, 6),
                                               ("dac_multi_period", 3, 5),
                                               ("dac_multi_band", 2, 25)])
def test_each_family_returns_logits_and_its_feature_maps(tiny, family, count, maps):
    out = tiny(torch.randn(3, 4001))
    assert list(out) == list(FAMILIES)
    logits, features = out[family]
    assert len(logits) == len(features) == count
    for scores, sub_maps in zip(logits, features):
        assert scores.dim() == 2 and scores.shape[0] == 3
        assert len(sub_maps) == maps and all(m.shape[0] == 3 for m in sub_maps)
    if family in ("multi_period", "multi_resolution"):  # Vocos: the logits map comes last
        assert all(torch.equal(f[-1].flatten(1), s) for s, f in zip(logits, features))


def test_period_padding_vocos_only_when_needed_dac_always_a_whole_period():
    torch.manual_seed(0)
    vocos = PeriodDiscriminator(3, [4, 8, 8, 8])
    dac = PeriodDiscriminator(3, [4, 8, 8, 8], always_pad=True)
    dac.load_state_dict(vocos.state_dict())
    for length in (3000, 3001):  # a multiple of 3, and not
        wav = torch.randn(2, length)
        pad = 3 - length % 3
        # DAC pads 3 - T % 3 samples (3 for T = 3000) by reflection; Vocos pads none for 3000
        padded = F.pad(wav[:, None], (0, pad), mode="reflect")[:, 0]
        assert torch.equal(dac(wav)[0], vocos(padded)[0])
    wav = torch.randn(2, 3000)
    seen, handle = capture_inputs(vocos.convs[0])
    vocos(wav)
    handle.remove()
    assert seen[0].shape == (2, 1, 1000, 3) and torch.equal(seen[0].flatten(1), wav)


def test_feature_maps_vocos_skip_the_first_and_add_the_logits_dac_keep_all_hidden():
    torch.manual_seed(0)
    wav = torch.randn(2, 3000)
    every = PeriodDiscriminator(2, [4, 8, 8, 8])
    vocos = PeriodDiscriminator(2, [4, 8, 8, 8], first_feature=1, logits_feature=True)
    vocos.load_state_dict(every.state_dict())
    (logits, hidden), (_, maps) = every(wav), vocos(wav)
    assert len(hidden) == 5 and len(maps) == 5
    assert all(torch.equal(a, b) for a, b in zip(maps[:4], hidden[1:]))
    assert torch.equal(maps[4].flatten(1), logits)


def test_spectral_discriminators_use_rectangular_windows_reflect_centring_and_fp32(tiny):
    wav = torch.randn(2, 4000)
    resolution = tiny.families["multi_resolution"].discriminators[0]
    band = tiny.families["dac_multi_band"].discriminators[0]
    seen_r, handle_r = capture_inputs(resolution.convs[0])
    seen_b, handle_b = capture_inputs(band.stacks[1][0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tiny(wav)
    handle_r.remove()
    handle_b.remove()
    stft = torch.stft(wav, 512, 128, window=torch.ones(512), center=True, pad_mode="reflect",
                      return_complex=True)
    assert seen_r[0].dtype == torch.float32
    torch.testing.assert_close(seen_r[0], stft.abs()[:, None])  # [B, 1, bins, frames]
    spec = torch.stft(dac_preprocess(wav), 1024, 256, window=torch.ones(1024), center=True,
                      pad_mode="reflect", return_complex=True)
    bins = 513  # band 1 of [0, 0.1, 0.25, ...]: bins int(0.1 * 513) to int(0.25 * 513)
    expected = torch.view_as_real(spec).permute(0, 3, 2, 1)[..., int(0.1 * bins):int(0.25 * bins)]
    assert seen_b[0].dtype == torch.float32
    torch.testing.assert_close(seen_b[0], expected)


def test_dac_families_see_dc_free_peak_normalised_audio_and_vocos_the_raw_audio(tiny):
    wav = torch.randn(2, 4000) * torch.tensor([[0.1], [3.0]]) + 0.5
    seen = {name: capture_inputs(family.discriminators[0])
            for name, family in tiny.families.items()}
    tiny(wav)
    for name, (inputs, handle) in seen.items():
        handle.remove()
        if name.startswith("dac_"):
            x = inputs[0]
            torch.testing.assert_close(x.mean(-1), torch.zeros(2), atol=1e-6, rtol=0)
            torch.testing.assert_close(x.abs().amax(-1), torch.full((2,), 0.8))
        else:
            assert torch.equal(inputs[0], wav)
    assert torch.equal(dac_preprocess(torch.zeros(1, 100)), torch.zeros(1, 100))


def test_no_discriminator_is_an_error():
    with pytest.raises(UserInputError, match="no discriminator"):
        MultiDiscriminator.from_hparams(DiscriminatorsConfig(None, None, None, None))
