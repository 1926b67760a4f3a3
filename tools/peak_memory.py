"""Peak resident memory of the current process, for the benchmark scripts in tools/ (Linux).

``ru_maxrss`` is unusable for a phase of a run: it also counts earlier phases and, for a child
process, the parent's peak before ``exec``. The kernel's high-water mark ``VmHWM`` can be reset
through ``/proc/self/clear_refs`` instead, so a benchmark measures just the part it times.
"""

from __future__ import annotations

import resource


def current_rss_mb() -> float:
    """Resident set size now, in MiB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def reset_peak_rss() -> None:
    """Set this process's high-water mark to its current resident size."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_rss_mb() -> float:
    """High-water mark of the resident set size since the last reset, in MiB."""
    with open("/proc/self/status") as handle:
        line = next(row for row in handle if row.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
