"""Where a SimVQ codec's codes sit relative to its latents: the diagnostic behind the mini codec's
collapse analysis (docs/collapse_study.md, "Why the mini codec collapsed").

For held-out audio it measures the latents' spread along their principal axes, the codes' spread
along the same axes, the singular values of W, the codes the quantizer uses, and the codes it
would use if W and b were set from the latents' mean and covariance (``b = mean``,
``W = sqrt(d) cholesky(cov)``, what ``code_fit: moments`` does in training). A large gap
between the last two says the codes did not follow the encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from simvq_audio.codec.model import CodecModel
from simvq_audio.errors import UserInputError
from simvq_audio.quantize import SimVQ


@torch.no_grad()
def code_geometry(model: CodecModel, waveforms: Sequence[torch.Tensor]) -> dict:
    """Latents of every ``waveforms`` item ``[T]`` (eval mode) against the model's codes:
    ``frames``; ``latent_spread`` and ``code_spread`` (standard deviation along each principal
    axis of the latents, largest first, ``[d]`` lists); ``w_singular_values``;
    ``used_codes``; ``used_codes_if_fitted`` (with W and b set from the latents' moments; the
    model is left as it was)."""
    quantizer = model.quantizer
    if not isinstance(quantizer, SimVQ):
        raise UserInputError("code geometry needs a SimVQ codec (it refits W and b)")
    model.eval()
    latents = torch.cat([model.encoder(wav.reshape(1, -1))[0].T for wav in waveforms])
    z = latents.double()                                                   # [N, d]
    mean = z.mean(0)
    cov = (z - mean).T @ (z - mean) / z.shape[0]
    axes = torch.linalg.eigh(cov)[1].flip(1)                               # largest first
    codes = quantizer.effective_codes().double()                           # [K, d]
    used = quantizer.encode(latents.T[None]).unique().numel()
    saved = {name: tensor.clone() for name, tensor in quantizer.linear.state_dict().items()}
    quantizer.set_from_moments(mean, cov)
    used_if_fitted = quantizer.encode(latents.T[None]).unique().numel()
    quantizer.linear.load_state_dict(saved)
    return {"frames": z.shape[0],
            "latent_spread": ((z - mean) @ axes).std(0).tolist(),
            "code_spread": ((codes - mean) @ axes).std(0).tolist(),
            "w_singular_values": torch.linalg.svdvals(saved["weight"].double()).tolist(),
            "used_codes": used, "used_codes_if_fitted": used_if_fitted}
