"""The decoder backbone starts from the SimVQ reference's initialisation: embed and ConvNeXt
convs/linears trunc-normal(0.02) with zero biases; ResNet, attention, norms and head untouched;
parameter names unchanged (model directories keep loading)."""

import pytest
import torch
from torch import nn

from simvq_audio.codec.decoder import Decoder


@pytest.fixture(scope="module")
def decoder():
    torch.manual_seed(0)
    return Decoder(input_dim=128, hop_length=320, dim=256, intermediate_dim=768, num_layers=3,
                   resnet_blocks=2)


def test_embed_and_convnext_layers_are_trunc_normal_002_with_zero_bias(decoder):
    backbone = decoder.backbone
    layers = [backbone.embed] + [m for block in backbone.convnext for m in block.modules()
                                 if isinstance(m, (nn.Conv1d, nn.Linear))]
    assert len(layers) == 1 + 3 * 3  # dwconv and the two MLP linears per block
    for layer in layers:
        assert layer.weight.std().item() == pytest.approx(0.02, rel=0.1)
        assert layer.weight.abs().max() < 0.02 * 7 and torch.all(layer.bias == 0)


def test_resnet_attention_and_head_keep_pytorch_defaults(decoder):
    backbone = decoder.backbone
    others = [m for m in backbone.context.modules() if isinstance(m, nn.Conv1d)]
    others += [backbone.context[1].qkv, backbone.context[1].proj, decoder.head.out]
    for layer in others:
        bound = layer.weight[0].numel() ** -0.5  # PyTorch's default: U(-bound, bound)
        assert layer.weight.abs().max() <= bound and layer.bias.abs().max() > 0
    assert all(torch.all(block.gamma == 1 / 3) for block in backbone.convnext)


def test_parameter_names_are_unchanged(decoder):
    names = set(decoder.state_dict())
    for name in ("backbone.embed.weight", "backbone.convnext.0.dwconv.weight",
                 "backbone.convnext.0.mlp.0.weight", "backbone.convnext.2.mlp.2.bias",
                 "backbone.context.0.block.2.weight", "backbone.final_norm.weight"):
        assert name in names
