"""tools/code_geometry.py and simvq_audio.study.code_geometry: latents against codes, and the
codes a moments fit of W and b would use."""

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

from simvq_audio.codec import SimVQCodec
from simvq_audio.codec.config import load_config
from simvq_audio.codec.model import CodecModel
from simvq_audio.errors import UserInputError
from simvq_audio.metrics.synthetic import speech_like
from simvq_audio.study.code_geometry import code_geometry

from repo_paths import TINY_RECIPE, TOOLS
from train_helpers import make_data_dir


def waveforms(count: int = 3) -> list[torch.Tensor]:
    rng = np.random.default_rng(0)
    return [torch.from_numpy(speech_like(0.4 + 0.1 * i, 24000, rng)) for i in range(count)]


def tiny_model(**quantizer) -> CodecModel:
    config = load_config(TINY_RECIPE).model
    for key, value in quantizer.items():
        setattr(config.quantizer, key, value)
    torch.manual_seed(0)
    return CodecModel.from_hparams(config)


def test_geometry_counts_the_codes_used_now_and_after_a_moments_fit():
    model, wavs = tiny_model(), waveforms()
    before = copy.deepcopy(model.quantizer.state_dict())
    measured = code_geometry(model, wavs)
    assert all(torch.equal(before[k], v) for k, v in model.quantizer.state_dict().items())
    with torch.no_grad():
        latents = torch.cat([model.encoder(w[None])[0].T for w in wavs])
    assert measured["frames"] == latents.shape[0]
    assert measured["used_codes"] == model.quantizer.encode(latents.T[None]).unique().numel()
    fitted = copy.deepcopy(model.quantizer)
    z = latents.double()
    fitted.set_from_moments(z.mean(0), torch.cov(z.T, correction=0))
    assert measured["used_codes_if_fitted"] == fitted.encode(latents.T[None]).unique().numel()
    spreads = measured["latent_spread"]
    assert len(spreads) == len(measured["code_spread"]) == model.quantizer.dim
    assert spreads == sorted(spreads, reverse=True)  # principal axes, largest first
    expected = torch.linalg.svdvals(model.quantizer.linear.weight.double()).tolist()
    assert measured["w_singular_values"] == pytest.approx(expected)


def test_geometry_needs_simvq():
    with pytest.raises(UserInputError, match="SimVQ"):
        code_geometry(tiny_model(type="vanilla", code_fit="gradient"), waveforms(1))


def test_tool_prints_a_row_per_model_and_refuses_what_it_cannot_read(tmp_path):
    data = make_data_dir(tmp_path / "audio", count=3)
    model_dir = SimVQCodec.from_config(TINY_RECIPE).save_pretrained(tmp_path / "model")
    tool = [sys.executable, str(TOOLS / "code_geometry.py")]
    result = subprocess.run([*tool, "--data-dir", str(data), str(model_dir), "--json",
                             str(tmp_path / "g.json")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith(f"| {model_dir}")]
    assert len(rows) == 1 and (tmp_path / "g.json").is_file()
    not_a_data_dir = subprocess.run([*tool, "--data-dir", str(tmp_path), str(model_dir)],
                                    capture_output=True, text=True, timeout=300)
    not_a_model = subprocess.run([*tool, "--data-dir", str(data), str(tmp_path)],
                                 capture_output=True, text=True, timeout=300)
    for bad, message in ((not_a_data_dir, "wav.scp: missing"),
                         (not_a_model, "neither a training checkpoint")):
        assert bad.returncode == 2 and message in bad.stderr
        assert "Traceback" not in bad.stderr
