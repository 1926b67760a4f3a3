"""tools/venv.sh on a python3 without ensurepip (Debian/Ubuntu lacking python3-venv): the venv is
made without pip and tools/bootstrap_pip.py fetches pip from the index, checked by SHA-256.
Against a fake index on 127.0.0.1 serving a stand-in wheel whose ``pip/__main__.py`` records
that it ran."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from repo_paths import TOOLS

WHEEL = "pip-99.0-py3-none-any.whl"


def stand_in_wheel(marker: Path) -> bytes:
    """A zip that runs as ``python WHEEL/pip install WHEEL`` and writes its arguments."""
    code = ("import sys, pathlib\n"
            f"pathlib.Path({str(marker)!r}).write_text(' '.join(sys.argv[1:]))\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pip/__init__.py", "")
        archive.writestr("pip/__main__.py", code)
    return buffer.getvalue()


@pytest.fixture
def index(tmp_path):
    """``(url, state)``: a simple-API index with one pip wheel; ``state["sha256"]`` is what the
    index claims (set it wrong to test the check)."""
    wheel = stand_in_wheel(tmp_path / "pip-ran")
    state = {"sha256": hashlib.sha256(wheel).hexdigest()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path == "/simple/pip/":
                body = json.dumps({"files": [
                    {"filename": "pip-1.0-py3-none-any.whl", "url": "nowhere",
                     "hashes": {"sha256": "0" * 64}, "yanked": True},
                    {"filename": WHEEL, "url": f"/files/{WHEEL}",
                     "hashes": {"sha256": state["sha256"]}}]}).encode()
            elif self.path == f"/files/{WHEEL}":
                body = wheel
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/simple", state
    server.shutdown()


def repo_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "tools").mkdir(parents=True)
    for name in ("venv.sh", "bootstrap_pip.py"):
        shutil.copy(TOOLS / name, root / "tools" / name)
    return root


def python_without_ensurepip(tmp_path: Path) -> Path:
    """A python3 whose ``-m venv`` fails as Debian's does without python3-venv."""
    script = tmp_path / "python3"
    script.write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = -m ] && [ "$2" = venv ] && [ "$3" != --without-pip ]; then\n'
        '  echo "ensurepip is not available" >&2; mkdir -p "$3/bin"; exit 1\n'
        "fi\n"
        f'exec {sys.executable} "$@"\n')
    script.chmod(0o755)
    return script


def create_venv(root: Path, python: Path, index_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", "source tools/venv.sh && create_venv"], cwd=root,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": str(python),
                               "PIP_INDEX_URL": index_url},
                          capture_output=True, text=True, timeout=300)


def test_venv_without_ensurepip_gets_pip_from_the_index(tmp_path, index):
    url, _ = index
    root = repo_copy(tmp_path)
    result = create_venv(root, python_without_ensurepip(tmp_path), url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"installing {WHEEL}" in result.stdout
    assert (root / ".venv" / "bin" / "python").exists()
    ran = (tmp_path / "pip-ran").read_text()
    assert ran.startswith("install -q ") and ran.endswith(WHEEL)


def test_a_wheel_that_does_not_match_the_index_hash_is_not_run(tmp_path, index):
    url, state = index
    state["sha256"] = "f" * 64
    root = repo_copy(tmp_path)
    result = create_venv(root, python_without_ensurepip(tmp_path), url)
    assert result.returncode != 0
    assert "does not match the index's SHA-256" in result.stderr
    assert "sudo apt-get install python3-venv" in result.stderr
    assert not (tmp_path / "pip-ran").exists()


def test_bootstrap_refuses_to_run_outside_a_venv():
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter under .venv
    result = subprocess.run([base, "-I", str(TOOLS / "bootstrap_pip.py")],
                            env={"PIP_INDEX_URL": "http://127.0.0.1:9/simple"},  # never reached
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "virtual environment's python" in result.stderr
