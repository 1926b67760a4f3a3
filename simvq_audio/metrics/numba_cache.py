"""numba's on-disk cache, private to each process that scores.

librosa (pYIN, mel filters) compiles its numba functions with ``cache=True``: by default numba
keeps the compiled code beside librosa's sources, in the virtual environment, with one index file
per function that every process reads and rewrites. Two ``score --nj 2`` runs compiling at once
left an index pointing at object code another process wrote, and every later process that ran
pYIN died with a segmentation fault in ``librosa/core/pitch.py``. numba has no switch that turns
``cache=True`` off (only ``NUMBA_DISABLE_JIT``, which runs pYIN as slow Python); its
``NUMBA_CACHE_DIR`` moves the cache.

So each scoring process (the main one and every worker) sets ``NUMBA_CACHE_DIR`` to a folder of
its own before librosa is imported, and no two processes ever write to one folder:

- the folders of a process and its workers lie in one temporary folder, removed when the main
  process exits;
- each starts as a copy of the published cache, ``~/.cache/simvq-audio/numba/<key>``
  (``$XDG_CACHE_HOME`` honoured; the key names the numba, librosa and Python versions and the
  environment), so only the first run compiles (pYIN: tens of seconds of one core) and later
  processes load the compiled code (about a second);
- the main process publishes its folder once it has warmed up, if nothing is published yet: a
  copy under a temporary name beside it, renamed into place in one step (a reader sees a complete
  cache or none; of two publishers one wins and the other's copy is dropped). A published cache
  is never written again.

A ``NUMBA_CACHE_DIR`` set by the user is overridden in scoring processes.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import platform
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from simvq_audio.metrics.reference_cache import user_cache_home

ENV = "NUMBA_CACHE_DIR"

_run_folder: list[Path] = []     # this process's run folder, once made


def published_folder() -> Path:
    """``$XDG_CACHE_HOME/simvq-audio/numba/<key>``: the compiled code runs start from."""
    versions = []
    for package in ("numba", "librosa"):
        try:
            versions.append(f"{package}-{metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package}-none")
    environment = hashlib.sha256(f"{sys.prefix}|{platform.machine()}".encode()).hexdigest()[:12]
    key = "-".join([*versions, f"py{sys.version_info[0]}{sys.version_info[1]}", environment])
    return user_cache_home() / "simvq-audio" / "numba" / key


def isolate() -> Path:
    """Give this process a private numba cache (once per process; call it before librosa is
    imported). Returns the run folder, which workers pass to :func:`isolate_worker`."""
    if not _run_folder:
        run = Path(tempfile.mkdtemp(prefix="simvq-audio-numba-"))
        atexit.register(shutil.rmtree, run, ignore_errors=True)
        _run_folder.append(run)
        _use_folder_in(run)
    return _run_folder[0]


def isolate_worker(run_folder: Path) -> None:
    """A worker's private numba cache, inside its main process's ``run_folder`` (removed by
    that process)."""
    _use_folder_in(run_folder)


def _use_folder_in(run_folder: Path) -> None:
    own = Path(tempfile.mkdtemp(dir=run_folder, prefix="process-"))
    published = published_folder()
    if published.is_dir():
        shutil.copytree(published, own, dirs_exist_ok=True)
    os.environ[ENV] = str(own)
    if "numba" in sys.modules:          # numba read its settings at import: read them again
        from numba.core import config

        config.reload_config()


def publish() -> None:
    """Publish this process's cache folder (``NUMBA_CACHE_DIR``, set by :func:`isolate`) unless
    a cache is published already; a failure to write it leaves the run as it is."""
    published, own = published_folder(), Path(os.environ[ENV])
    if published.exists() or not any(own.iterdir()):
        return
    staging = None
    try:
        published.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=published.parent, prefix=".staging-"))
        shutil.copytree(own, staging, dirs_exist_ok=True)
        os.rename(staging, published)
    except OSError:
        pass             # not writable, or another process published first: nothing lost
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
