"""How many CPU threads torch may use: never more than the CPUs this process may actually run on.

PyTorch sizes its thread pool from the cores the machine has, not from the process's CPU affinity
(``taskset``, Slurm, ``docker --cpuset-cpus``) or a container's CPU quota (``docker --cpus``,
Kubernetes limits): on a 2-CPU quota of a 64-core host it starts 64 threads that then wait for
one another, many times slower than one thread. :func:`default_threads` takes the smallest of
the three, and an ``OMP_NUM_THREADS`` the user set wins over all of them (as in numpy, torch and
Kaldi). Kept free of torch: the CLI reads it before it knows whether a command needs torch.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from simvq_audio.errors import UserInputError, quote

THREADS_ENV = "OMP_NUM_THREADS"
CGROUP_ROOT = "/sys/fs/cgroup"


def default_threads(cgroup_root: str | os.PathLike = CGROUP_ROOT) -> int:
    """Threads for torch: ``OMP_NUM_THREADS`` when set, else the smaller of the CPUs in this
    process's affinity mask and the cgroup CPU quota (:func:`cgroup_cpu_limit`, rounded down),
    at least 1.

    Raises:
        UserInputError: ``OMP_NUM_THREADS`` is set but not a positive integer.
    """
    chosen = os.environ.get(THREADS_ENV, "").strip()
    if chosen:
        if not chosen.isdigit() or int(chosen) < 1:
            raise UserInputError(f"{THREADS_ENV} must be a positive integer such as 1, got "
                                 f"{quote(chosen)}")
        return int(chosen)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cpus = min(cpus or 1, math.floor(limit))
    return max(1, cpus or 1)


def cgroup_cpu_limit(cgroup_root: str | os.PathLike = CGROUP_ROOT) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (``1.5`` for 150 ms per 100 ms period), or
    None when there is none or it cannot be read: cgroup v2 ``cpu.max`` (``"max 100000"``: none;
    ``"200000 100000"``: 2 CPUs), else cgroup v1 ``cpu/cpu.cfs_quota_us`` over
    ``cpu/cpu.cfs_period_us`` (quota -1: none)."""
    root = Path(cgroup_root)
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        fields = v2.split()
        return _ratio(fields[0], fields[1]) if len(fields) == 2 else None
    for directory in (root / "cpu", root / "cpu,cpuacct", root):
        quota = _read(directory / "cpu.cfs_quota_us")
        if quota is not None:
            return _ratio(quota, _read(directory / "cpu.cfs_period_us") or "")
    return None


def use_threads(threads: int) -> None:
    """Make torch use ``threads`` CPU threads: ``torch.set_num_threads``, and as many inter-op
    threads where torch still allows it (only before its first inter-op parallel work)."""
    import torch  # here, not at the top: `--help`, `--version` and `info` start without torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # "cannot set number of interop threads after parallel work has started"
        pass


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _ratio(quota: str, period: str) -> float | None:
    """``quota / period`` in CPUs; None for no quota (``max``, ``-1``) or unreadable numbers."""
    try:
        value = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None
