"""Reconstruction metrics of the image tokenizer: PSNR, SSIM and codebook utilisation over a
set of images. rFID needs Inception weights that cannot be downloaded here: it is reported as
not available unless the user supplies them (and then refused as not implemented yet).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch

from simvq_audio.errors import UserInputError
from simvq_audio.quantize import CodeUsage


class InceptionUnavailable(UserInputError, NotImplementedError):
    """Inception weights were given for rFID, but rFID is not implemented yet."""


def psnr(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of ``estimate`` against ``reference``, both ``[B, C, H, W]`` in
    [0, 1] -> ``[B]`` (infinite for identical images)."""
    mse = (reference.float() - estimate.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse)


def ssim(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (scikit-image, 7x7 window, channels averaged) of ``[B, 3, H, W]`` images
    in [0, 1] -> ``[B]``; needs H, W >= 7."""
    # optional (the image extra): imported when used
    from skimage.metrics import structural_similarity

    pairs = zip(reference.float().cpu().numpy(), estimate.float().cpu().numpy())
    return torch.tensor([structural_similarity(a, b, channel_axis=0, data_range=1.0)
                         for a, b in pairs], dtype=torch.float64)


def rfid_status(inception_weights: str | os.PathLike | None) -> str:
    """What the score reports for rFID; raises :class:`InceptionUnavailable` for a weights
    file, as computing rFID from it is not implemented yet."""
    if inception_weights is None:
        return "not available (needs user-supplied Inception weights)"
    raise InceptionUnavailable(f"rFID with Inception weights {inception_weights} is not "
                               f"implemented in this version; score without --inception-weights")


@torch.no_grad()
def score_batches(encode, decode, batches: Iterable[torch.Tensor], num_codes: int
                  ) -> dict[str, float]:
    """Mean PSNR (each image's capped at 100 dB) and SSIM of ``decode(encode(x))`` over
    ``batches`` of ``[B, 3, H, W]`` images in [0, 1], and the fraction of the ``num_codes``
    codes used at least once (utilisation; this process's images only)."""
    usage = CodeUsage(num_codes)
    psnrs, ssims = [], []
    for images in batches:
        tokens = encode(images)
        usage.update(tokens.cpu())
        decoded = decode(tokens).cpu()
        psnrs.append(psnr(images, decoded).double())
        ssims.append(ssim(images, decoded))
    if not psnrs:
        raise UserInputError("no images to score")
    values = torch.cat(psnrs)
    return {"images": len(values), "psnr": float(values.clamp_max(100).mean()),
            "ssim": float(torch.cat(ssims).mean()), "utilisation": usage.utilisation(sync=False),
            "used_codes": int((usage.total_counts(sync=False) > 0).sum()),
            "num_codes": num_codes, "perplexity": usage.perplexity(sync=False)}


def format_scores(scores: dict[str, float], rfid: str) -> str:
    """A Markdown table of :func:`score_batches`'s result and the rFID status."""
    rows = [("images", str(scores["images"])), ("PSNR (dB)", f"{scores['psnr']:.3f}"),
            ("SSIM", f"{scores['ssim']:.4f}"),
            ("utilisation", f"{100 * scores['utilisation']:.2f} % ({scores['used_codes']} of "
                            f"{scores['num_codes']})"),
            ("perplexity", f"{scores['perplexity']:.1f}"), ("rFID", rfid)]
    return "\n".join(["| metric | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])

