"""Shared test set-up: small thread counts (CI has 2 cores), a fixed seed per test, and the rule
that the slow tests are exactly the tests in tests/slow/ (so ``-m "not slow"`` and
``--ignore tests/slow`` select the same tests)."""

import os
from pathlib import Path

# at most 2 threads, also for commands run through cli.main (which set torch's threads to
# simvq_audio.threads.default_threads(), where OMP_NUM_THREADS wins)
os.environ.setdefault("OMP_NUM_THREADS", "2")

import pytest  # noqa: E402 (after the thread count is set)
import torch  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))

SLOW = Path(__file__).resolve().parent / "slow"


@pytest.hookimpl(tryfirst=True)  # before -m deselects anything
def pytest_collection_modifyitems(items):
    unmarked, misplaced = [], []
    for item in items:
        in_slow = SLOW in Path(item.path).resolve().parents
        marked = item.get_closest_marker("slow") is not None
        if in_slow and not marked:
            unmarked.append(item.nodeid)
        elif marked and not in_slow:
            misplaced.append(item.nodeid)
    problems = [f"{nodeid}: in tests/slow/ but not marked slow" for nodeid in unmarked]
    problems += [f"{nodeid}: marked slow but not in tests/slow/" for nodeid in misplaced]
    if problems:
        raise pytest.UsageError("slow tests live in tests/slow/ and are marked "
                                "@pytest.mark.slow:\n  " + "\n  ".join(problems))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _no_user_cache(tmp_path_factory, monkeypatch):
    """Commands that keep files in the user's cache (score's reference cache) write into a
    temporary folder, never the home directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


@pytest.fixture
def opened_files(monkeypatch) -> list[str]:
    """Every path ``os.open`` opens from now on in the test, in order (``monkeypatch.undo()``
    stops the counting)."""
    opened: list[str] = []
    real_open = os.open

    def counting_open(file, *args, **kwargs):
        opened.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", counting_open)
    return opened
