"""ONNX export of a codec: ``encoder.onnx`` (wav -> tokens) and ``decoder.onnx`` (tokens -> wav).

* ``encoder.onnx``: input ``wav [B, T]`` float32 at the model rate, ``T`` a multiple of the hop
  (with ``padding: zeros``, pad with zeros at the end, as :meth:`CodecModel.encode` does; with
  the reference's ``reflect`` padding, ``T`` must also hold at least ``encoder.start_samples``,
  and a signal whose length is not a whole number of frames gets a different last token than
  :meth:`CodecModel.encode`, which mirrors its end); output ``tokens [B, T / hop]``
  int64, the nearest effective code by ``argmin ||c||^2 - 2 z.c`` over all codes (the scores are
  ``[B, T', K]``: encode long audio in pieces). Exported with the TorchScript exporter
  (``dynamo=False``): in torch 2.13 the dynamo exporter fixes the LSTM's sequence length to the
  example's.
* ``decoder.onnx``: input ``tokens [B, F]`` int64; output ``wav [B, F * hop]`` float32. Exported
  with the dynamo exporter (needs ``onnxscript``): the TorchScript exporter cannot export
  ``aten::polar`` (the ISTFT head's complex spectrum).

Both take the effective codes ``C W^T + b`` as a constant, so ids map through ``W``. When
onnxruntime is installed both are run on random input and compared with the torch model.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from simvq_audio.atomic import atomic_path
from simvq_audio.errors import UserInputError

OPSET = 18
_EXAMPLE_FRAMES = 20


class EncoderGraph(nn.Module):
    """``wav [B, T]`` (T a multiple of the hop) -> ``tokens [B, T / hop]`` int64."""

    def __init__(self, encoder: nn.Module, codes: torch.Tensor):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("codes", codes)
        self.register_buffer("norms", codes.square().sum(dim=-1))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        z = self.encoder(wav).transpose(1, 2)
        return (self.norms - 2 * z @ self.codes.T).argmin(dim=-1)


class DecoderGraph(nn.Module):
    """``tokens [B, F]`` int64 -> ``wav [B, F * hop]``."""

    def __init__(self, decoder: nn.Module, codes: torch.Tensor):
        super().__init__()
        self.decoder = decoder
        self.register_buffer("codes", codes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.codes[tokens].transpose(1, 2))


def export_onnx(codec, out_dir: str | os.PathLike) -> list[tuple[Path, str]]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` of ``codec`` (a :class:`SimVQCodec`) into
    ``out_dir``; returns ``(path, check result)`` per file."""
    try:
        import onnx  # noqa: F401  (both exporters need it)
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError:
        raise UserInputError("ONNX export needs the onnx extra: pip install 'simvq-audio[onnx]' "
                             "(onnx, onnxscript, onnxruntime)") from None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(codec.model).cpu()  # the caller's codec stays where it is
    quantizer = model.quantizer
    codes = quantizer.lookup_rows(torch.arange(quantizer.num_codes)).detach().clone()
    hop = codec.hop_length
    encoder = EncoderGraph(model.encoder, codes).eval()
    decoder = DecoderGraph(model.decoder, codes).eval()
    wav = torch.randn(2, _EXAMPLE_FRAMES * hop) * 0.1
    tokens = torch.randint(0, codec.codebook_size, (2, _EXAMPLE_FRAMES))
    batch, frames = torch.export.Dim("batch"), torch.export.Dim("frames")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        with atomic_path(out_dir / "encoder.onnx") as tmp:
            torch.onnx.export(encoder, (wav,), str(tmp), dynamo=False, opset_version=OPSET,
                              input_names=["wav"], output_names=["tokens"],
                              dynamic_axes={"wav": {0: "batch", 1: "samples"},
                                            "tokens": {0: "batch", 1: "frames"}})
        with atomic_path(out_dir / "decoder.onnx") as tmp:
            torch.onnx.export(decoder, (tokens,), str(tmp), dynamo=True, opset_version=OPSET,
                              input_names=["tokens"], output_names=["wav"],
                              dynamic_shapes=({0: batch, 1: frames},), external_data=False,
                              verbose=False)
    return [(out_dir / "encoder.onnx", check_encoder(out_dir / "encoder.onnx", model)),
            (out_dir / "decoder.onnx", check_decoder(out_dir / "decoder.onnx", decoder,
                                                     codec.codebook_size))]


def check_encoder(path: Path, model: nn.Module) -> str:
    """Compare ``encoder.onnx`` with ``model.encode`` on 3 s of noise; a one-line result."""
    wav = torch.randn(2, 225 * model.hop_length) * 0.1
    onnx_tokens = _run(path, {"wav": wav.numpy()})
    if onnx_tokens is None:
        return "not checked: onnxruntime is not installed"
    with torch.inference_mode():
        expected = model.encode(wav).numpy()
    return f"{int((onnx_tokens != expected).sum())} of {expected.size} tokens differ from torch"


def check_decoder(path: Path, graph: DecoderGraph, codebook_size: int) -> str:
    """Compare ``decoder.onnx`` with the torch decoder on random tokens; a one-line result."""
    tokens = torch.randint(0, codebook_size, (2, 225))
    wav = _run(path, {"tokens": tokens.numpy()})
    if wav is None:
        return "not checked: onnxruntime is not installed"
    with torch.no_grad():
        expected = graph(tokens).numpy()
    return f"max |onnx - torch| = {abs(wav - expected).max():.2e}"


def _run(path: Path, inputs: dict):
    try:
        # optional packages (the onnx extra): imported when exporting
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.InferenceSession(str(path)).run(None, inputs)[0]
