"""What the collapse study writes: ``results.json``, ``results.md`` (tables) and two PNG plots,
``utilisation_vs_k.png`` and ``rank_vs_step.png``."""

from __future__ import annotations

import json
from pathlib import Path

from simvq_audio.atomic import atomic_path
from simvq_audio.metrics.plots import pyplot, save_figure
from simvq_audio.study.evaluate import uniform_use_bound

MATRIX = {"simvq": "W", "vanilla": "codebook matrix"}
"""Which matrix's effective rank a run tracks (see :func:`~.evaluate.code_matrix`)."""


def write_report(study: dict, out: Path) -> list[Path]:
    """Write the JSON, the markdown and the plots of ``study`` into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.md", out / "utilisation_vs_k.png",
             out / "rank_vs_step.png"]
    with atomic_path(paths[0]) as tmp:
        tmp.write_text(json.dumps(study, indent=2) + "\n", encoding="utf-8")
    with atomic_path(paths[1]) as tmp:
        tmp.write_text(markdown_report(study), encoding="utf-8")
    plot_utilisation(study["runs"], paths[2])
    plot_ranks(study["runs"], paths[3])
    return paths


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def _row(cells: list) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _rank(run: dict) -> str:
    history = run["rank_history"]
    return f"{history[0][1]:.1f} -> {history[-1][1]:.1f} ({MATRIX[run['kind']]})"


def sweep_table(runs: list[dict], frames_at_frame_step: int) -> list[str]:
    """Markdown lines: one row per run of the K sweep, by K then quantizer. Beside the
    uniform-use bound of the held-out windows, the bound of ``frames_at_frame_step`` draws (as
    many windows as the held-out audio holds without overlap in frame steps: windows a few
    samples apart are nearly the same vector, so this is closer to what the audio can show)."""
    header = ["K", "quantizer", "utilisation", "used codes", "bound (uniform use)",
              "bound at the frame step", "perplexity", "norm. entropy", "held-out MSE",
              "effective rank start -> end", "held-out >= 4K",
              "utilisation on 1/8, 1/4, 1/2 of held-out"]
    lines = [_row(header), _row(["---"] * len(header))]
    for run in sorted((r for r in runs if r["group"] == "sweep"),
                      key=lambda r: (r["num_codes"], r["kind"] != "vanilla")):
        lines.append(_row([run["num_codes"], run["name"], _percent(run["utilisation"]),
                           run["used_codes"], _percent(run["uniform_bound"]),
                           _percent(uniform_use_bound(frames_at_frame_step, run["num_codes"])),
                           f"{run['perplexity']:.0f}", f"{run['normalised_entropy']:.3f}",
                           f"{run['mse']:.4f}", _rank(run),
                           "yes" if run["vectors"] >= 4 * run["num_codes"] else "NO",
                           " / ".join(f"{100 * used:.1f}" for fraction, used
                                      in run["utilisation_growth"] if fraction < 1) + " %"]))
    return lines


def ablation_table(runs: list[dict], ablation_k: int) -> list[str]:
    """Markdown lines: the SimVQ runs at ``ablation_k`` (the sweep's included), one per variant."""
    header = ["C init", "C", "W fitted by", "beta", "utilisation", "perplexity",
              "norm. entropy", "held-out MSE", "effective rank of W start -> end"]
    lines = [_row(header), _row(["---"] * len(header))]
    for run in runs:
        if run["kind"] == "simvq" and run["num_codes"] == ablation_k:
            beta = "study's" if run["beta"] is None else f"{run['beta']:g}"
            lines.append(_row([run["codebook_init"],
                               "frozen" if run["freeze_codebook"] else "trained with W",
                               run["code_fit"], beta, _percent(run["utilisation"]),
                               f"{run['perplexity']:.0f}", f"{run['normalised_entropy']:.3f}",
                               f"{run['mse']:.4f}", _rank(run)]))
    return lines


def markdown_report(study: dict) -> str:
    """The study as markdown: how it was run, the data, the sweep table and the ablation table."""
    data, config = study["data"], study["config"]
    lines = [
        "# Codebook collapse study: VanillaVQ vs SimVQ", "",
        f"- command: `{study['command']}`",
        f"- date: {study['date']}; machine: {study['machine']}; "
        f"total time {study['total_seconds'] / 60:.1f} min (CPU time "
        f"{study['cpu_seconds'] / 60:.1f} min)",
        f"- data: {data['source']}",
        f"- training: {data['train_seconds'] / 60:.1f} min of audio, {data['train_vectors']} "
        f"windows (hop {data['train_hop_samples']} samples); held-out: "
        f"{data['heldout_seconds'] / 60:.1f} min of audio, {data['heldout_vectors']} windows "
        f"(hop {data['heldout_hop_samples']} samples; {data['heldout_frames_at_frame_step']} "
        f"at the {data['window']['frame_step_samples']}-sample frame step)",
        f"- model: MLP autoencoder on {data['window']['context_frames']} x "
        f"{data['window']['n_mels']} log-mel windows, hidden {config['hidden']}, code dim "
        f"{config['dim']}; {config['steps']} Adam steps, lr {config['lr']}, batch "
        f"{config['batch_size']}, beta {config['beta']}, seed {config['seed']}",
        "", "## Utilisation over the held-out set, by codebook size", "",
        *sweep_table(study["runs"], data["heldout_frames_at_frame_step"]),
        "", f"## SimVQ ablations at K = {study['ablation_k']}", "",
        *ablation_table(study["runs"], study["ablation_k"]),
        "", "Plots: `utilisation_vs_k.png`, `rank_vs_step.png`. "
        "Rank: effective rank (Roy & Vetterli) of SimVQ's W, or of VanillaVQ's codebook matrix.",
    ]
    return "\n".join(lines) + "\n"


def plot_utilisation(runs: list[dict], path: Path) -> None:
    """Held-out utilisation (%) against K (log scale) for each quantizer of the sweep, with the
    uniform-use bound of the held-out set."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    sweep = sorted((r for r in runs if r["group"] == "sweep"), key=lambda r: r["num_codes"])
    for name in dict.fromkeys(r["name"] for r in sweep):
        chosen = [r for r in sweep if r["name"] == name]
        axis.plot([r["num_codes"] for r in chosen], [100 * r["utilisation"] for r in chosen],
                  marker="o", label=name)
    bound = {r["num_codes"]: r["uniform_bound"] for r in sweep}
    axis.plot(list(bound), [100 * b for b in bound.values()], "k:", label="uniform-use bound")
    axis.set_xscale("log", base=2)
    axis.set_ylim(0, 105)
    axis.set_xlabel("codebook size K")
    axis.set_ylabel("held-out utilisation (%)")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path)


def plot_ranks(runs: list[dict], path: Path) -> None:
    """Effective rank against training step: SimVQ's W (left), VanillaVQ's codebook (right)."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, kind in zip(axes, ("simvq", "vanilla")):
        for run in (r for r in runs if r["kind"] == kind):
            steps, ranks = zip(*run["rank_history"])
            axis.plot(steps, ranks, label=f"{run['name']} K={run['num_codes']}",
                      linestyle="-" if run["group"] == "sweep" else "--")
        axis.set_title(f"{kind}: effective rank of {MATRIX[kind]}")
        axis.set_xlabel("training step")
        axis.set_ylabel("effective rank")
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
    figure.tight_layout()
    save_figure(figure, path)
