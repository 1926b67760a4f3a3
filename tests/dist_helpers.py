"""Two CPU processes joined by a gloo process group, for code that syncs across processes."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _joined(rank: int, port: int, work: Callable, results, args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        results[rank] = work(rank, *args)
    finally:
        dist.destroy_process_group()


def run_on_two_processes(work: Callable, *args) -> dict:
    """``{rank: work(rank, *args)}`` for ranks 0 and 1, each in its own process of one gloo
    group (``work`` must be a module-level function; its result must pickle)."""
    results = mp.Manager().dict()
    mp.spawn(_joined, args=(free_port(), work, results, args), nprocs=2, join=True)
    return dict(results)
