"""The codebook-collapse study: the same small model trained with VanillaVQ and with SimVQ for
several codebook sizes, plus SimVQ's ablations at one size (C trained with W; uniform C).

Library entry point :func:`run_study`; command line ``tools/collapse_study.py``; write-up
``docs/collapse_study.md``.
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import torch

from simvq_audio.study.data import DataOptions, load_study_data
from simvq_audio.study.report import write_report
from simvq_audio.study.runs import RunSpec, TrainConfig, train_and_evaluate

DEFAULT_KS = (1024, 8192, 65536)
DEFAULT_ABLATION_K = 8192
SIMVQ_ABLATIONS = ({"freeze_codebook": False}, {"codebook_init": "uniform"},
                   {"code_fit": "moments", "beta": 0.0})
"""The SimVQ variants trained at the ablation K beside the paper's setting (Gaussian C, frozen,
W fitted by gradient), each as the :class:`RunSpec` fields it changes: C trained together with
W; a uniform C; W and b following the latents' moments without a commitment term (what the
mini codec adopts). The codec's own options against collapse are ablated on the codec itself
(:mod:`simvq_audio.study.codec_ablation`)."""


def study_specs(ks: Sequence[int], ablation_k: int, vanilla_init: str = "uniform"
                ) -> list[RunSpec]:
    """Vanilla and SimVQ (Gaussian C, frozen: the paper's setting) for every K in ``ks``, then at
    ``ablation_k`` every variant of :data:`SIMVQ_ABLATIONS` (and the paper's setting there too
    when ``ablation_k`` is not in ``ks``)."""
    specs = [spec for k in ks for spec in (RunSpec("vanilla", k, vanilla_init),
                                           RunSpec("simvq", k, "normal"))]
    paper = RunSpec("simvq", ablation_k, "normal", group="ablation")
    if ablation_k not in ks:
        specs.append(paper)
    return specs + [replace(paper, **change) for change in SIMVQ_ABLATIONS]


def machine() -> str:
    """One line naming this machine: CPU model, cores, torch threads."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    return (f"{model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}")


def run_study(out: Path, data_options: DataOptions, config: TrainConfig,
              ks: Sequence[int] = DEFAULT_KS, ablation_k: int = DEFAULT_ABLATION_K,
              vanilla_init: str = "uniform", command: str = "",
              log: Callable[[str], None] = print) -> dict:
    """Run every spec of :func:`study_specs` on the same data and write the report into ``out``.

    Returns the study as written to ``out/results.json``: ``command``, ``date``, ``machine``,
    ``config``, ``ablation_k``, ``data`` (what was used, see
    :func:`~simvq_audio.study.data.load_study_data`), ``runs`` (one dict per run, see
    :func:`~simvq_audio.study.runs.train_and_evaluate`), ``total_seconds`` (wall clock) and
    ``cpu_seconds`` (CPU time of this process, all threads: on a shared machine, what the study
    costs without the other jobs).
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    data = load_study_data(data_options, log)
    for k in sorted(set(ks) | {ablation_k}):
        if len(data.heldout) < 4 * k:
            log(f"warning: {len(data.heldout)} held-out vectors < 4 x K = {4 * k}: full "
                f"utilisation is out of reach at K={k}; give more held-out audio")
    runs = [train_and_evaluate(spec, config, data.train, data.heldout, log)
            for spec in study_specs(ks, ablation_k, vanilla_init)]
    study = {
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "config": asdict(config),
        "ablation_k": ablation_k,
        "data": data.description,
        "runs": runs,
        "total_seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }
    for path in write_report(study, out):
        log(f"wrote {path}")
    return study
