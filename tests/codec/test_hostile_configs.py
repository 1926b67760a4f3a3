"""Issue 24: hostile YAML configs and ``config.json`` files are refused with one short line, in
bounded memory, and a file named by ``base:`` is never quoted unless it is a config. Each
docstring says what happened before."""

import json
import os
import subprocess
import sys

import pytest
import torch

from simvq_audio.cli import main
from simvq_audio.codec import SimVQCodec
from simvq_audio.errors import UserInputError
from simvq_audio.image.tokenizer import SimVQImageTokenizer
from simvq_audio.model_dir import CONFIG_NAME, WEIGHTS_NAME
from simvq_audio.pretrained_tokenizer import load_pretrained

from hostile_helpers import MAX_MESSAGE, MEMORY_LIMIT_MB, assert_refused, run_limited
from repo_paths import RECIPES, REPO, TINY_RECIPE

SECRET = "SECRETHASH0123456789"


def billion_laughs(under: str) -> str:
    """A 9**9-fold YAML alias expansion (under 1 KB), its last level at ``under`` (a dotted
    place such as ``model.encoder.strides``)."""
    levels = [f'l0: &l0 [{", ".join(["lol"] * 9)}]']
    levels += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 9)]
    *sections, key = under.split(".")
    nested = "".join(f"{name}: {{" for name in sections) + f"{key}: *l8" + "}" * len(sections)
    return "\n".join(levels) + "\n" + nested + "\n"


def params_error(capsys, path) -> str:
    """The one line ``simvq-audio params PATH`` refuses ``path`` with (exit status 2)."""
    assert main(["params", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simvq-audio: error: "), lines
    assert len(lines[0]) <= MAX_MESSAGE, lines[0][:1000]
    return lines[0]


def test_alias_bomb_is_refused_by_params_in_bounded_memory(tmp_path):
    """Before: ``params bomb.yaml`` printed a 2 GiB type-error line and reached 4.7 GB."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs("model.encoder.strides"))
    assert bomb.stat().st_size < 1000
    assert_refused(run_limited("params", bomb), "bomb.yaml", "more than 100000 values")


_FROM_CONFIG = """
import resource, sys
limit = int(sys.argv[1]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from simvq_audio.codec import SimVQCodec
from simvq_audio.errors import UserInputError
from simvq_audio.image.tokenizer import SimVQImageTokenizer
for model, path in ((SimVQCodec, sys.argv[2]), (SimVQImageTokenizer, sys.argv[3])):
    try:
        model.from_config(path)
    except UserInputError as error:
        print(error)
"""


def test_alias_bomb_is_refused_by_from_config_of_both_modalities(tmp_path):
    """Before: ``SimVQCodec.from_config`` (and ``train --config``, the image tokenizer's
    ``from_config``) went through the same loader and took gigabytes on the same file."""
    audio, image = tmp_path / "audio.yaml", tmp_path / "image.yaml"
    audio.write_text(billion_laughs("model.encoder.strides"))
    image.write_text(billion_laughs("model.channel_mult"))
    result = subprocess.run([sys.executable, "-c", _FROM_CONFIG, str(MEMORY_LIMIT_MB), audio,
                             image], capture_output=True, text=True, timeout=300, cwd=REPO,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 2, (result.returncode, result.stderr[-2000:])
    for line, name in zip(lines, ("audio.yaml", "image.yaml")):
        assert name in line and "more than 100000 values" in line and len(line) < MAX_MESSAGE


@pytest.mark.parametrize("text, fragments", [
    # before: RecursionError tracebacks from PyYAML's composer
    ("model: {encoder: {strides: " + "[" * 200_000 + "]" * 200_000 + "}}\n",
     ["nested more than 64 levels deep"]),
    ("a: " + "{a: " * 200_000 + "1" + "}" * 200_000 + "\n", ["nested more than 64 levels deep"]),
    # before: a ValueError traceback (Python refuses to convert over 4300 digits)
    ("model: {sample_rate: " + "9" * 100_000 + "}\n", ["an integer of 100000 digits"]),
    # before: silently K = 4, the second mapping replacing the first
    ("model:\n  quantizer:\n    num_codes: 1024\n  quantizer:\n    num_codes: 4\n",
     ["repeats key 'quantizer' at line 4 (first at line 2)"]),
    # before: a NaN commitment weight was taken
    ("model: {quantizer: {beta: .nan}}\n", ["'model.quantizer.beta' must be a finite number"]),
    # before: the whole value was printed in the type error
    ("model: {sample_rate: " + "x" * 100_000 + "}\n", ["'model.sample_rate' must be an integer"]),
    # before: a self-containing list; now its depth is refused
    ("model: {encoder: {strides: &a [*a]}}\n", ["nested more than 64 levels deep"]),
    # merge keys copy mappings the way aliases do (and exponentially): not supported
    ("a: &a {x: 1}\nmodel: {<<: *a}\n", ["merge key '<<' (line 2)", "'base:'"]),
])
def test_hostile_yaml_is_one_short_line(tmp_path, capsys, text, fragments):
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    line = params_error(capsys, path)
    assert "hostile.yaml" in line
    for fragment in fragments:
        assert fragment in line, line


@pytest.mark.parametrize("name, content, fragment", [
    # the target of the issue: a system file that is no YAML; before, its first line was
    # printed as an "unknown key"
    ("shadow", f"root:$6${SECRET}:19000:0:99999:7:::\n", "'base' must name a .yaml or .yml"),
    ("shadow.yaml", f"root:$6${SECRET}:19000:0:99999:7:::\n", "not a config"),
    ("token.yml", f"api_token: {SECRET}\n", "not a config"),
    ("broken.yaml", f'password: "{SECRET}\n', "not valid YAML (line 2, column 1)"),
    ("dup.yaml", f"model: {{}}\nmodel: {{{SECRET}: 1}}\n", "repeats a key at line 2"),
    ("list.yaml", f"- {SECRET}\n", "expected a mapping of sections"),
])
def test_a_base_file_is_never_quoted_until_it_is_a_config(tmp_path, capsys, name, content,
                                                          fragment):
    """A config's ``base:`` may name any file of the machine; errors about it name it and say
    what is wrong without quoting what it holds."""
    (tmp_path / name).write_text(content)
    (tmp_path / "top.yaml").write_text(f"base: {tmp_path / name}\n")
    line = params_error(capsys, tmp_path / "top.yaml")
    assert fragment in line and SECRET not in line, line


def test_a_base_config_still_works_and_reports_its_own_mistakes(tmp_path, capsys):
    (tmp_path / "top.yaml").write_text(f"base: {TINY_RECIPE}\nmodel: {{sample_rate: 16000}}\n")
    assert main(["params", str(tmp_path / "top.yaml")]) == 0
    assert "at 16000 Hz" in capsys.readouterr().out
    (tmp_path / "b.yaml").write_text("model: {encoder: {typo: 1}}\n")
    (tmp_path / "top.yaml").write_text("base: b.yaml\n")
    assert "unknown key 'model.encoder.typo'" in params_error(capsys, tmp_path / "top.yaml")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``(config.json text, weights path)`` of a tiny codec saved with save_pretrained."""
    torch.manual_seed(0)
    path = SimVQCodec.from_config(TINY_RECIPE).save_pretrained(tmp_path_factory.mktemp("m") / "m")
    return (path / CONFIG_NAME).read_text(), path / WEIGHTS_NAME


def _doctor(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize("doctor, fragment", [
    # before: RecursionError traceback
    (lambda text: "[" * 200_000 + "]" * 200_000, "nested more than 64 levels deep"),
    # before: ValueError traceback
    (lambda text: _doctor(text, '"sample_rate": 24000', '"sample_rate": ' + "7" * 100_000),
     "an integer of 100000 digits"),
    # before: loaded, a NaN commitment weight in the model
    (lambda text: _doctor(text, '"beta": 0.0', '"beta": NaN'), "holds NaN"),
    (lambda text: _doctor(text, '"beta": 0.0', '"beta": -Infinity'), "holds -Infinity"),
    (lambda text: _doctor(text, '"beta": 0.0', '"beta": 1e999'), "too large for a float"),
    # before: read whole, whatever its size
    (lambda text: text + " " * (1 << 20), "larger than 1048576 bytes"),
])
def test_hostile_config_json_is_refused_by_from_pretrained(saved, tmp_path, doctor, fragment):
    text, weights = saved
    model = tmp_path / "model"
    model.mkdir()
    os.symlink(weights, model / WEIGHTS_NAME)
    (model / CONFIG_NAME).write_text(doctor(text))
    with pytest.raises(UserInputError) as error:
        SimVQCodec.from_pretrained(model)
    message = str(error.value)
    assert CONFIG_NAME in message and fragment in message and len(message) < MAX_MESSAGE


def test_a_config_json_that_is_a_fifo_is_refused(saved, tmp_path):
    """Before: called "missing" (``is_file`` is false for a FIFO)."""
    model = tmp_path / "model"
    model.mkdir()
    os.symlink(saved[1], model / WEIGHTS_NAME)
    os.mkfifo(model / CONFIG_NAME)
    with pytest.raises(UserInputError, match="not a regular file"):
        SimVQCodec.from_pretrained(model)


def test_config_json_round_trip_still_loads(saved, tmp_path):
    text, weights = saved
    model = tmp_path / "model"
    model.mkdir()
    os.symlink(weights, model / WEIGHTS_NAME)
    (model / CONFIG_NAME).write_text(text)
    codec = SimVQCodec.from_pretrained(model)
    assert codec.config.sample_rate == json.loads(text)["model"]["sample_rate"]


_FROM_PRETRAINED = """
import resource, sys
limit = int(sys.argv[1]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from simvq_audio.pretrained_tokenizer import load_pretrained
from simvq_audio.errors import UserInputError
for path in sys.argv[2:]:
    try:
        load_pretrained(path)
        print("loaded")
    except UserInputError as error:
        print(error)
"""


@pytest.mark.parametrize("recipe, doctor, fragment", [
    # each would allocate gigabytes (or build a billion layers) if it were built to be checked
    ("tiny.yaml", {"quantizer": {"num_codes": 2**24, "dim": 4096}}, "model [96, 4096, 7]"),
    ("tiny.yaml", {"quantizer": {"num_codes": 2**30}},
     "quantizer.codebook (file [1024, 8], model [1073741824, 8])"),
    ("tiny.yaml", {"decoder": {"dim": 10**6}}, "model [1000000, 1000000, 3]"),
    ("tiny.yaml", {"encoder": {"channels": 10**6}}, "model [1000000, 1, 7]"),
    ("tiny.yaml", {"decoder": {"n_fft": 10**9}},
     "decoder.head.out.bias (file [1282], model [1000000002])"),
    ("tiny.yaml", {"decoder": {"num_layers": 10**9}}, "far larger than its weights file"),
    ("image_tiny.yaml", {"channels": 10**6}, "model [2000000, 32, 3, 3]"),
    ("image_tiny.yaml", {"res_blocks": 10**9}, "far larger than its weights file"),
])
def test_an_oversized_config_is_refused_before_anything_is_built(tmp_path, recipe, doctor,
                                                                 fragment):
    """The weights are checked against shapes computed from the config, so none of these
    allocates what its config asks for (the child runs under the tests' address-space limit)
    nor builds layer after layer: the model is built only once its shapes fit the file."""
    cls = SimVQImageTokenizer if recipe.startswith("image") else SimVQCodec
    built = cls.from_config(RECIPES / recipe)
    good = built.save_pretrained(tmp_path / "good")
    bad = tmp_path / "bad"
    bad.mkdir()
    os.symlink(good / WEIGHTS_NAME, bad / WEIGHTS_NAME)
    config = json.loads((good / CONFIG_NAME).read_text())
    for section, values in doctor.items():
        if isinstance(values, dict):
            config["model"][section].update(values)
        else:
            config["model"][section] = values
    (bad / CONFIG_NAME).write_text(json.dumps(config))
    result = subprocess.run([sys.executable, "-c", _FROM_PRETRAINED, str(MEMORY_LIMIT_MB),
                             good, bad], capture_output=True, text=True, timeout=300, cwd=REPO,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    loaded, refused = result.stdout.splitlines()
    assert loaded == "loaded"  # the same weights under their own config, in the same limit
    assert CONFIG_NAME in refused and fragment in refused, refused
    assert load_pretrained(good).model_hash == built.model_hash
