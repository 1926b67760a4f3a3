"""The codec's parts are named in code but saved under the state-dict names model directories
hold (issue 26: model hashes and the reference import depend on them). Renaming, moving or
reordering a part fails here before it can break a saved model or an import."""

import pytest
import torch

from simvq_audio.codec.config import DecoderConfig, EncoderConfig, ModelConfig
from simvq_audio.codec.decoder import ResnetLayers
from simvq_audio.codec.model import CodecModel
from simvq_audio.quantize.factory import QuantizerConfig

WEIGHT_NORM_CONV = ("conv.bias", "conv.parametrizations.weight.original0",
                    "conv.parametrizations.weight.original1")
AFFINE = ("weight", "bias")


def tiny_model(causal: bool) -> CodecModel:
    """One stage, one residual unit, a 1-layer LSTM, two ResNet blocks around the attention and
    one ConvNeXt block: every kind of named part once (shapes only, on the meta device)."""
    config = ModelConfig(
        sample_rate=16000, encoder=EncoderConfig(channels=4, strides=[2], lstm_layers=1),
        quantizer=QuantizerConfig(type="simvq", num_codes=8, dim=8),
        decoder=DecoderConfig(dim=32, intermediate_dim=16, num_layers=1, resnet_blocks=2,
                              causal=causal, n_fft=8))
    with torch.device("meta"):
        return CodecModel.from_hparams(config)


def names(prefix: str, leaves: tuple[str, ...]) -> list[str]:
    return [f"{prefix}.{leaf}" for leaf in leaves]


def saved_names(causal: bool) -> list[str]:
    """The state-dict names, in order, of :func:`tiny_model` as model directories hold them
    (the decoder's convs are wrapped causal convs in the causal decoder)."""
    conv = ("conv.weight", "conv.bias") if causal else AFFINE

    def resnet(prefix: str) -> list[str]:
        return [*names(f"{prefix}.block.0", AFFINE), *names(f"{prefix}.block.2", conv),
                *names(f"{prefix}.block.3", AFFINE), *names(f"{prefix}.block.6", conv)]

    encoder = [
        *names("downsample.0", WEIGHT_NORM_CONV), *names("downsample.1.block.1", WEIGHT_NORM_CONV),
        *names("downsample.1.block.3", WEIGHT_NORM_CONV),
        *names("downsample.1.shortcut", WEIGHT_NORM_CONV), *names("downsample.3", WEIGHT_NORM_CONV),
        *names("lstm.lstm", ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")),
        *names("project.1", WEIGHT_NORM_CONV)]
    backbone = [
        *names("embed", conv), *resnet("context.0"),
        *names("context.1", ("norm.weight", "norm.bias", "qkv.weight", "qkv.bias",
                             "proj.weight", "proj.bias")),
        *resnet("context.2"), *names("context.3", AFFINE), *names("norm", AFFINE),
        "convnext.0.gamma", *names("convnext.0.dwconv", conv), *names("convnext.0.norm", AFFINE),
        *names("convnext.0.mlp.0", AFFINE), *names("convnext.0.mlp.2", AFFINE),
        *names("final_norm", AFFINE)]
    return [*names("encoder", tuple(encoder)), "quantizer.codebook", "quantizer.linear.weight",
            "quantizer.linear.bias", *names("decoder.backbone", tuple(backbone)),
            *names("decoder.head.out", AFFINE)]


@pytest.mark.parametrize("causal", [False, True])
def test_state_dict_names_and_order_are_those_model_directories_hold(causal):
    """Names fix what loads and the weights' hash; order fixes ``parameters()`` (an optimizer
    state and a seeded initialisation follow it)."""
    assert list(tiny_model(causal).state_dict()) == saved_names(causal)


def test_each_named_part_is_the_module_saved_under_its_old_name():
    model = tiny_model(causal=False)
    encoder, backbone = model.encoder, model.decoder.backbone
    parts = {  # saved as: reached in code as
        "encoder.downsample.1.block.1": encoder.downsample[1].block.dilated_conv,
        "encoder.downsample.1.block.3": encoder.downsample[1].block.pointwise_conv,
        "encoder.project.1": encoder.project.conv,
        "decoder.backbone.context.2.block.0": backbone.context[2].block.norm1,
        "decoder.backbone.context.2.block.2": backbone.context[2].block.conv1,
        "decoder.backbone.context.2.block.3": backbone.context[2].block.norm2,
        "decoder.backbone.context.2.block.5": backbone.context[2].block.dropout,
        "decoder.backbone.context.2.block.6": backbone.context[2].block.conv2,
        "decoder.backbone.convnext.0.mlp.0": backbone.convnext[0].mlp.pwconv1,
        "decoder.backbone.convnext.0.mlp.2": backbone.convnext[0].mlp.pwconv2,
    }
    for saved, part in parts.items():
        assert model.get_submodule(saved) is part, saved


def test_a_container_takes_exactly_its_named_parts():
    expected = (r"ResnetLayers takes the parts \['conv1', 'conv2', 'dropout', 'norm1', "
                r"'norm2'\], got \['conv1', 'conv3'\]")
    with pytest.raises(ValueError, match=expected):
        ResnetLayers(conv1=torch.nn.Identity(), conv3=torch.nn.Identity())
