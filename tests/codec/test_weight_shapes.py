"""The shapes ``from_pretrained`` checks a model directory against, computed from its config
alone (:mod:`simvq_audio.weight_shapes`), are the state dict of the model that config builds:
name for name, shape for shape, for every recipe and for random small configs of both
modalities. The models are built on the meta device (shapes only)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from simvq_audio.codec import SimVQCodec
from simvq_audio.image.tokenizer import SimVQImageTokenizer

from repo_paths import RECIPES

SETTINGS = dict(deadline=None, derandomize=True, database=None, max_examples=40)


def assert_shapes_are_the_state_dict(cls, config):
    listed = list(cls.weight_shapes(config))
    with torch.device("meta"):
        model = cls.build_model(config)
    built = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    assert len(listed) == len(dict(listed))  # no name twice
    assert dict(listed) == built


@pytest.mark.parametrize("recipe", sorted(path.name for path in RECIPES.glob("*.yaml")))
def test_every_recipe(recipe):
    cls = SimVQImageTokenizer if recipe.startswith("image") else SimVQCodec
    assert_shapes_are_the_state_dict(cls, cls.recipe_model_config(RECIPES / recipe))


@st.composite
def quantizers(draw):
    kind = draw(st.sampled_from(["simvq", "vanilla"]))
    bias = draw(st.booleans())
    fits = ["gradient", "moments"] if kind == "simvq" and bias else ["gradient"]
    return {"type": kind, "num_codes": draw(st.integers(2, 9)), "dim": draw(st.integers(1, 6)),
            "bias": bias, "code_fit": draw(st.sampled_from(fits))}


@st.composite
def codec_configs(draw):
    strides = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    hop = 1
    for stride in strides:
        hop *= stride
    encoder = {"channels": draw(st.integers(2, 6)), "strides": strides,  # halved: >= 1
               "kernel_size": draw(st.integers(1, 4)),
               "last_kernel_size": draw(st.integers(1, 4)),
               "residual_kernel_size": draw(st.integers(1, 3)),
               "residual_units": draw(st.integers(0, 2)), "lstm_layers": draw(st.integers(1, 2)),
               "padding": draw(st.sampled_from(["zeros", "reflect"]))}
    decoder = {"dim": draw(st.integers(1, 40)), "intermediate_dim": draw(st.integers(1, 5)),
               "num_layers": draw(st.integers(1, 3)), "resnet_blocks": draw(st.integers(0, 5)),
               "attention": draw(st.booleans()), "n_fft": hop + 2 * draw(st.integers(0, 3)),
               "causal": draw(st.booleans()), "attention_window": draw(st.integers(1, 4))}
    model = {"encoder": encoder, "quantizer": draw(quantizers()), "decoder": decoder}
    return SimVQCodec.model_config(model, "codec config")


@st.composite
def image_configs(draw):
    mult = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    model = {"resolution": 2 ** (len(mult) - 1), "in_channels": draw(st.integers(1, 3)),
             "channels": draw(st.integers(1, 5)), "channel_mult": mult,
             "res_blocks": draw(st.integers(0, 2)), "attention": draw(st.booleans()),
             "quantizer": draw(quantizers())}
    return SimVQImageTokenizer.model_config(model, "image config")


@settings(**SETTINGS)
@given(config=codec_configs())
def test_random_codec_configs(config):
    assert_shapes_are_the_state_dict(SimVQCodec, config)


@settings(**SETTINGS)
@given(config=image_configs())
def test_random_image_configs(config):
    assert_shapes_are_the_state_dict(SimVQImageTokenizer, config)
