"""One training run of the collapse study: what is trained (:class:`RunSpec`), how
(:class:`TrainConfig`), and :func:`train_and_evaluate`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from simvq_audio.quantize import SimVQ, VanillaVQ, VectorQuantizer
from simvq_audio.study.evaluate import code_matrix_rank, evaluate
from simvq_audio.study.mel_windows import MelWindows
from simvq_audio.study.model import FrameAutoencoder


@dataclass(frozen=True)
class RunSpec:
    """A quantizer to train: ``kind`` ``"vanilla"`` or ``"simvq"``, K codes, how the codebook
    starts (``"normal"`` N(0, d^-0.5) or ``"uniform"`` U(-1/K, 1/K)) and, for SimVQ, whether C
    stays frozen and how W is fitted (``code_fit``, :class:`~simvq_audio.quantize.SimVQ`).
    ``beta``: the commitment weight when it differs from the study's. ``group`` is ``"sweep"``
    (the K sweep) or ``"ablation"``."""

    kind: str
    num_codes: int
    codebook_init: str
    freeze_codebook: bool = True
    group: str = "sweep"
    code_fit: str = "gradient"
    beta: float | None = None

    @property
    def name(self) -> str:
        beta = "" if self.beta is None else f"-beta{self.beta:g}"
        if self.kind == "vanilla":
            return f"vanilla-{self.codebook_init}{beta}"
        frozen = "frozen" if self.freeze_codebook else "trained"
        fit = "" if self.code_fit == "gradient" else f"-W-{self.code_fit}"
        return f"simvq-{self.codebook_init}-C-{frozen}{fit}{beta}"


@dataclass(frozen=True)
class TrainConfig:
    """Shared by every run of a study, so that runs differ only in their quantizer."""

    dim: int = 32
    hidden: int = 256
    steps: int = 1600
    batch_size: int = 512
    lr: float = 3e-3
    beta: float = 0.25
    seed: int = 0
    rank_every: int = 25


def build_model(spec: RunSpec, config: TrainConfig, input_dim: int) -> FrameAutoencoder:
    """The model of ``spec``. The encoder and decoder start from the same weights in every run
    of a seed (they are drawn after reseeding), and so does C across the SimVQ runs of a K."""
    torch.manual_seed(config.seed)
    quantizer: VectorQuantizer
    beta = config.beta if spec.beta is None else spec.beta
    if spec.kind == "vanilla":
        quantizer = VanillaVQ(spec.num_codes, config.dim, beta, codebook_init=spec.codebook_init)
    elif spec.kind == "simvq":
        quantizer = SimVQ(spec.num_codes, config.dim, beta, codebook_init=spec.codebook_init,
                          freeze_codebook=spec.freeze_codebook, code_fit=spec.code_fit)
    else:
        raise ValueError(f"unknown quantizer kind {spec.kind!r}")
    torch.manual_seed(config.seed)
    return FrameAutoencoder(input_dim, config.hidden, quantizer)


def train_and_evaluate(spec: RunSpec, config: TrainConfig, train: MelWindows,
                       heldout: MelWindows, log: Callable[[str], None] = print) -> dict:
    """Train ``spec`` on random windows of ``train`` (Adam, ``config.steps`` batches drawn by
    the same seeded generator in every run) and evaluate it on all of ``heldout``.

    Returns a JSON-ready dict: the spec and its ``name``; :func:`evaluate`'s measurements;
    ``rank_history`` ``[[step, effective rank], ...]`` (every ``rank_every`` steps and at the
    end); ``final_train_loss``; ``train_seconds`` and ``eval_seconds``.
    """
    model = build_model(spec, config, train.dim)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    batches = torch.Generator().manual_seed(config.seed)
    ranks = [[0, code_matrix_rank(model.quantizer)]]
    start = time.perf_counter()
    loss = torch.tensor(float("nan"))
    for step in range(1, config.steps + 1):
        ids = torch.randint(len(train), (config.batch_size,), generator=batches)
        loss = model.loss(train.gather(ids))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % config.rank_every == 0 or step == config.steps:
            ranks.append([step, code_matrix_rank(model.quantizer)])
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    metrics = evaluate(model, heldout)
    eval_seconds = time.perf_counter() - start
    log(f"{spec.name} K={spec.num_codes}: utilisation {metrics['utilisation']:.1%}, "
        f"perplexity {metrics['perplexity']:.0f}, held-out MSE {metrics['mse']:.4f}, "
        f"rank {ranks[-1][1]:.1f} (train {train_seconds:.0f} s, eval {eval_seconds:.0f} s)")
    return {"name": spec.name, **asdict(spec), **metrics, "rank_history": ranks,
            "final_train_loss": loss.item(), "train_seconds": train_seconds,
            "eval_seconds": eval_seconds}
