"""Pictures for a scoring run (matplotlib, Agg backend, PNG).

- :func:`plot_spectrograms`: reference vs reconstruction log spectrograms, one row per utterance.
- :func:`plot_code_usage`: usage of every code, sorted, on a log scale (dead codes counted).
- :func:`plot_training_curves`: the TensorBoard scalars ``codebook/utilisation`` and
  ``codebook/perplexity`` (:data:`TRAINING_TAGS`) against the training step.

Other figures (the collapse study's) are drawn with :func:`pyplot` and written with
:func:`save_figure`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from simvq_audio.atomic import atomic_path
from simvq_audio.errors import UserInputError

TRAINING_TAGS = ("codebook/utilisation", "codebook/perplexity")
SPECTROGRAM_N_FFT, SPECTROGRAM_HOP = 1024, 256


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported on first use: drawing needs no
    display, and commands that draw nothing never import matplotlib; the metrics extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | Path) -> None:
    """Write ``figure`` to ``path`` as a 100 dpi PNG (atomically) and close it."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    pyplot().close(figure)


def log_spectrogram(wav: np.ndarray, n_fft: int = SPECTROGRAM_N_FFT,
                    hop_length: int = SPECTROGRAM_HOP) -> np.ndarray:
    """``wav [T]`` -> log10 magnitude ``[n_fft // 2 + 1, frames]`` (floor 1e-5, Hann window)."""
    spec = torch.stft(torch.as_tensor(wav, dtype=torch.float32), n_fft, hop_length,
                      window=torch.hann_window(n_fft), return_complex=True).abs()
    return torch.log10(spec.clamp_min(1e-5)).numpy()


def plot_spectrograms(examples: list[tuple[str, np.ndarray, np.ndarray, int]],
                      path: str | Path) -> None:
    """One row per ``(utt_id, ref [T], hyp [T], sample_rate)``: reference left, reconstruction
    right, on a shared colour scale; written as PNG to ``path``."""
    plt = pyplot()
    figure, axes = plt.subplots(len(examples), 2, figsize=(12, 3 * len(examples)),
                                squeeze=False)
    for row, (utt_id, ref, hyp, rate) in zip(axes, examples):
        spectra = [log_spectrogram(ref), log_spectrogram(hyp)]
        low = min(spec.min() for spec in spectra)
        high = max(spec.max() for spec in spectra)
        for axis, spec, title in zip(row, spectra, ("reference", "reconstruction")):
            seconds = spec.shape[1] * SPECTROGRAM_HOP / rate
            axis.imshow(spec, origin="lower", aspect="auto", vmin=low, vmax=high, cmap="magma",
                        extent=(0, seconds, 0, rate / 2000))
            axis.set(title=f"{utt_id}: {title}", xlabel="time (s)", ylabel="frequency (kHz)")
    figure.tight_layout()
    save_figure(figure, path)


def plot_code_usage(counts: torch.Tensor, path: str | Path) -> None:
    """Sorted usage counts of the ``counts [K]`` codes, log scale, as PNG at ``path``."""
    plt = pyplot()
    counts = np.sort(np.asarray(counts.cpu(), dtype=np.int64))[::-1]
    used = counts[counts > 0]
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.fill_between(np.arange(len(used)), used, step="post", alpha=0.6)
    axis.set(yscale="log", xlim=(0, len(counts)), xlabel="code rank (most used first)",
             ylabel="occurrences",
             title=f"code usage: {len(used)} of {len(counts)} codes used, "
                   f"{len(counts) - len(used)} dead")
    figure.tight_layout()
    save_figure(figure, path)


def read_scalars(logdir: str | Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps [N], values [N])`` of scalar ``tag`` from all TensorBoard event files under
    ``logdir`` (recursively), sorted by step."""
    # optional (the metrics extra): imported when reading training logs
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    points = []
    for folder in sorted({path.parent for path in Path(logdir).rglob("events.out.tfevents*")}):
        accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        accumulator.Reload()
        if tag in accumulator.Tags()["scalars"]:
            points += [(event.step, event.value) for event in accumulator.Scalars(tag)]
    points.sort()
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def plot_training_curves(logdir: str | Path, path: str | Path,
                         tags: tuple[str, ...] = TRAINING_TAGS) -> None:
    """One panel per tag in ``tags`` (value against step) from the TensorBoard logs under
    ``logdir``, as PNG at ``path``. Raises :class:`UserInputError` if none of the tags is
    found."""
    curves = {tag: read_scalars(logdir, tag) for tag in tags}
    if not any(len(steps) for steps, _ in curves.values()):
        raise UserInputError(f"{logdir}: no TensorBoard scalars {', '.join(tags)} found")
    plt = pyplot()
    figure, axes = plt.subplots(1, len(tags), figsize=(6 * len(tags), 4), squeeze=False)
    for axis, (tag, (steps, values)) in zip(axes[0], curves.items()):
        axis.plot(steps, values)
        axis.set(title=tag, xlabel="step")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path)
