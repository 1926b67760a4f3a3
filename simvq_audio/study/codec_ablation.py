"""The codec-level collapse ablation (issue 15): the mini recipe's tiny codec trained through the
project's trainer (:class:`~simvq_audio.train.trainer.GanTrainer` running a
:class:`~simvq_audio.codec.training.CodecTask`) once per combination of its options against
codebook collapse (:data:`VARIANTS`), each measured on held-out audio with its EMA weights (what
export ships): code use and the mel distance of ``decode(encode(x))`` to ``x``.

Command line: ``tools/collapse_study.py --codec-ablation``; write-up: docs/collapse_study.md.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from simvq_audio.atomic import atomic_path
from simvq_audio.codec import SimVQCodec
from simvq_audio.codec.config import Config, load_config
from simvq_audio.codec.model import CodecModel
from simvq_audio.codec.training import CodecTask
from simvq_audio.errors import UserInputError
from simvq_audio.metrics.mel_distance import mel_distance
from simvq_audio.quantize import CodeUsage
from simvq_audio.study import sources
from simvq_audio.study.collapse import machine
from simvq_audio.study.mel_windows import SAMPLE_RATE
from simvq_audio.train import checkpoint as ckpt
from simvq_audio.train.trainer import GanTrainer, RunOptions

DEFAULT_STEPS = 120
"""The mini recipe's training length (egs/mini/run.sh: ``--max-steps 120``)."""
MINI_CORPUS = {"train_minutes": 20.0, "dev_utts_per_voice": 4, "test_utts_per_voice": 12}
"""egs/mini/run.sh's corpus: training = its train split, held-out = its test split (12 held-out
prompts of each training voice + 2 speakers never seen in training)."""


@dataclass(frozen=True)
class Variant:
    """One codec of the ablation: its options against collapse and the quantizer type, every
    one set explicitly over the base config (so a variant does not depend on what the base
    recipe turns on)."""

    name: str
    description: str
    dim: int
    encoder_init: str
    code_fit: str
    beta: float
    quantizer_lr_scale: float = 1.0
    quantizer: str = "simvq"

    def overrides(self) -> dict:
        """The config keys this variant sets over the base recipe."""
        return {"model": {"quantizer": {"type": self.quantizer, "dim": self.dim,
                                        "code_fit": self.code_fit, "beta": self.beta}},
                "train": {"encoder_init": self.encoder_init,
                          "quantizer_lr_scale": self.quantizer_lr_scale}}


VARIANTS = (
    Variant("a", "all options off (the tiny codec before them)", 64, "random", "gradient", 0.25),
    Variant("b", "encoder_init data only", 64, "data", "gradient", 0.25),
    Variant("c", "(b) + dim 8", 8, "data", "gradient", 0.25),
    Variant("d", "(c) + the quantizer's lr x 10 (not adopted)", 8, "data", "gradient", 0.25,
            10.0),
    Variant("e", "(c) + code_fit moments", 8, "data", "moments", 0.25),
    Variant("f", "(c) + beta 0", 8, "data", "gradient", 0.0),
    Variant("g", "(c) + code_fit moments + beta 0 (recipes/tiny.yaml)", 8, "data", "moments",
            0.0),
    Variant("h", "(g) without encoder_init data", 8, "random", "moments", 0.0),
    Variant("i", "(c) with a plain VQ codebook (recipes/tiny_vq.yaml)", 8, "data", "gradient",
            0.25, quantizer="vanilla"),
)
"""(a) is the tiny codec as it was (64-dimensional codes, PyTorch's default encoder init, the
paper's fit of W by gradient and commitment weight 0.25); (b)-(c) add the options against the
narrow untrained latents; (e)-(g) the options against the collapse during training; (g) is what
recipes/tiny.yaml adopts and (h) shows that its encoder init is still needed; (d) adds the
learning-rate scale, which did not measurably win; (i) is (c) with VanillaVQ."""


def select_variants(names: Sequence[str] | None) -> list[Variant]:
    """The :data:`VARIANTS` named in ``names``, in that order (all of them when ``None``)."""
    known = {variant.name: variant for variant in VARIANTS}
    unknown = sorted(set(names or ()) - set(known))
    if unknown:
        raise UserInputError(f"unknown codec ablation variant(s) {', '.join(unknown)}: "
                             f"one of {', '.join(known)}")
    return list(VARIANTS) if names is None else [known[name] for name in dict.fromkeys(names)]


def mini_corpus_dirs(cache: Path, archive_dir: Path | None,
                     log: Callable[[str], None] = print) -> dict[str, Path]:
    """``{"train": ..., "heldout": ...}``: the train and test data dirs of :data:`MINI_CORPUS`,
    built under ``cache`` (packages cached in ``archive_dir``, default ``cache/debian``)."""
    name = "debian_{train_minutes:g}min_dev{dev_utts_per_voice}_test{test_utts_per_voice}"
    build = sources.debian_builder(archive_dir or cache / "debian",
                                   MINI_CORPUS["train_minutes"],
                                   MINI_CORPUS["dev_utts_per_voice"], log,
                                   test_utts_per_voice=MINI_CORPUS["test_utts_per_voice"])
    return sources.corpus_dirs(cache, name.format(**MINI_CORPUS), build, log,
                               splits={"train": ["train"], "heldout": ["test"]})


def variant_config(base: Path, variant: Variant, steps: int, folder: Path) -> Config:
    """``folder/config.yaml`` (``base`` with the variant's settings and ``steps`` steps),
    written and loaded. A different one already there (another base or step count) is an
    error: its run and measurements are not this one's."""
    data = {"base": str(base.resolve()), **variant.overrides()}
    data["train"]["max_steps"] = steps
    text = yaml.safe_dump(data, sort_keys=False)
    path = folder / "config.yaml"
    if path.is_file() and path.read_text(encoding="utf-8") != text:
        raise UserInputError(f"{folder} holds a run of another config ({path}): choose another "
                             f"--out")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def train_variant(config: Config, exp_dir: Path, train_dir: Path,
                  log: Callable[[str], None] = print) -> tuple[Path, float | None]:
    """Train ``config`` into ``exp_dir`` unless a finished run is already there; returns the
    final checkpoint and the training wall time in seconds (``None`` when reused)."""
    steps = config.train.max_steps
    final = ckpt.checkpoint_dir(exp_dir, steps)
    if ckpt.checkpoint_problem(final) is None:
        log(f"{exp_dir}: reusing the finished run ({final.name})")
        return final, None
    start = time.perf_counter()
    status = GanTrainer(CodecTask(config), RunOptions(exp_dir, train_dir, cpu=True,
                                                      resume=ckpt.list_checkpoints(exp_dir) != [])
                        ).run()
    if status != 0:
        raise UserInputError(f"training in {exp_dir} stopped with status {status}")
    return final, time.perf_counter() - start


@torch.no_grad()
def evaluate_codec(model: CodecModel, waveforms: Sequence[torch.Tensor]) -> dict:
    """Every held-out waveform ``[T]`` through ``decode_tokens(encode(x))`` (eval mode):
    ``frames`` (tokens), ``used_codes``, ``utilisation`` (distinct codes / K), ``perplexity``
    (of the code distribution over all frames) and ``mel_distance`` (mean over utterances of
    :func:`~simvq_audio.metrics.mel_distance.mel_distance`, the scorer's)."""
    model.eval()
    usage = CodeUsage(model.quantizer.num_codes)
    distances = []
    for wav in waveforms:
        tokens = model.encode(wav[None])
        usage.update(tokens)
        decoded = model.decode_tokens(tokens)[0, :wav.shape[-1]]
        distances.append(mel_distance(wav.numpy(), decoded.numpy(), model.sample_rate))
    return {"frames": int(usage.counts.sum()),
            "used_codes": usage.num_codes - usage.dead_codes(sync=False),
            "utilisation": usage.utilisation(sync=False),
            "perplexity": usage.perplexity(sync=False),
            "mel_distance": sum(distances) / len(distances)}


def run_codec_ablation(out: Path, base: Path, train_dir: Path, heldout_dir: Path,
                       steps: int = DEFAULT_STEPS, variants: Sequence[Variant] = VARIANTS,
                       command: str = "", data_source: str = "data dirs",
                       log: Callable[[str], None] = print) -> dict:
    """Train and measure every variant (in ``out/<name>/``) and write ``out/codec_ablation.json``
    and ``out/codec_ablation.md``, again after each variant (a stopped ablation leaves the
    variants it finished). Each variant's row is also kept in ``out/<name>/run.json``: a variant
    measured there before is not redone (so ablations run in parallel into one ``out`` are
    tabulated together by a last run over all variants), and one whose training finished is
    measured without retraining (its ``train_seconds`` is then ``None``). Returns what the JSON
    holds: ``command``, ``date``, ``machine``, ``base``, ``steps``, ``data``, ``runs`` (per
    variant: its settings, :func:`evaluate_codec`'s measurements, ``train_seconds``, the load
    average before and after), ``total_seconds`` and ``cpu_seconds``."""
    start, cpu_start = time.perf_counter(), time.process_time()
    heldout = sources.read_waveforms(heldout_dir, None, seed=0)
    data = {"source": data_source, "train_dir": str(train_dir), "heldout_dir": str(heldout_dir),
            "heldout_utterances": len(heldout),
            "heldout_seconds": sum(wav.numel() for wav in heldout) / SAMPLE_RATE}
    if not variants:
        raise UserInputError("the codec ablation needs at least one variant")
    runs = []
    for variant in variants:
        log(f"codec ablation ({variant.name}): {variant.description}")
        folder = out / variant.name
        config = variant_config(base, variant, steps, folder)
        saved = folder / "run.json"
        if saved.is_file():
            runs.append(json.loads(saved.read_text(encoding="utf-8")))
            log(f"codec ablation ({variant.name}): measured before ({saved})")
        else:
            runs.append(measure_variant(variant, config, folder / "exp", train_dir, heldout, log))
            with atomic_path(saved) as tmp:
                tmp.write_text(json.dumps(runs[-1], indent=2) + "\n", encoding="utf-8")
            log(f"codec ablation ({variant.name}): {_summary(runs[-1])}")
        result = {"command": command,
                  "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "machine": machine(), "base": str(base), "steps": steps, "data": data,
                  "runs": runs, "total_seconds": time.perf_counter() - start,
                  "cpu_seconds": time.process_time() - cpu_start}
        write_report(result, out, log)
    return result


def measure_variant(variant: Variant, config: Config, exp_dir: Path, train_dir: Path,
                    heldout: Sequence[torch.Tensor], log: Callable[[str], None] = print
                    ) -> dict:
    """One row of the ablation: ``variant``'s settings, :func:`train_variant` into ``exp_dir``,
    :func:`evaluate_codec` of its EMA weights on ``heldout``, and the 1-minute load average
    before and after."""
    if config.model.sample_rate != SAMPLE_RATE:
        raise UserInputError(f"the codec ablation reads audio at {SAMPLE_RATE} Hz; the config "
                             f"is at {config.model.sample_rate} Hz")
    load_before = os.getloadavg()[0]
    checkpoint, train_seconds = train_variant(config, exp_dir, train_dir, log)
    measured = evaluate_codec(SimVQCodec.from_checkpoint(checkpoint).model, heldout)
    return {"variant": variant.name, "description": variant.description,
            "quantizer": variant.quantizer, "dim": variant.dim,
            "encoder_init": variant.encoder_init, "code_fit": variant.code_fit,
            "beta": variant.beta, "quantizer_lr_scale": variant.quantizer_lr_scale,
            "num_codes": config.model.quantizer.num_codes, **measured,
            "train_seconds": train_seconds,
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def write_report(result: dict, out: Path, log: Callable[[str], None] = print) -> None:
    """``out/codec_ablation.json`` and ``out/codec_ablation.md`` (:func:`markdown_table`)."""
    for name, text in (("codec_ablation.json", json.dumps(result, indent=2) + "\n"),
                       ("codec_ablation.md", markdown_table(result))):
        with atomic_path(out / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
        log(f"wrote {out / name}")


def _summary(run: dict) -> str:
    return (f"{run['used_codes']}/{run['num_codes']} codes ({100 * run['utilisation']:.1f} %), "
            f"perplexity {run['perplexity']:.1f}, mel distance {run['mel_distance']:.3f}")


def markdown_table(result: dict) -> str:
    """The ablation as markdown: what was run, then one row per variant."""
    data = result["data"]
    lines = [
        f"Command: `{result['command']}`  ",
        f"Date: {result['date']}; machine: {result['machine']}  ",
        f"Base config: {result['base']}, {result['steps']} steps per variant; wall time "
        f"{result['total_seconds'] / 60:.1f} min, CPU time {result['cpu_seconds'] / 60:.1f} min  ",
        f"Data: {data['source']}; train {data['train_dir']}; held-out {data['heldout_dir']} "
        f"({data['heldout_utterances']} utterances, {data['heldout_seconds'] / 60:.1f} min)",
        "",
        "| variant | quantizer | dim | encoder_init | code_fit | beta | quantizer_lr_scale | "
        "used codes | utilisation | perplexity | mel distance | train min | load (1 min) |",
        "|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in result["runs"]:
        train = "reused" if run["train_seconds"] is None else f"{run['train_seconds'] / 60:.1f}"
        lines.append(
            f"| ({run['variant']}) {run['description']} | {run['quantizer']} | {run['dim']} | "
            f"{run['encoder_init']} | {run['code_fit']} | {run['beta']:g} | "
            f"{run['quantizer_lr_scale']:g} | "
            f"{run['used_codes']} / {run['num_codes']} | {100 * run['utilisation']:.1f} % | "
            f"{run['perplexity']:.1f} | {run['mel_distance']:.3f} | {train} | "
            f"{run['load_before']:.1f} -> {run['load_after']:.1f} |")
    return "\n".join(lines) + "\n"
