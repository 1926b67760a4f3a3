"""Install pip into the running Python's virtual environment, from the package index itself.

For machines whose ``python3`` has no ``ensurepip`` (Debian and Ubuntu without the
``python3-venv`` package): ``tools/venv.sh`` then makes ``.venv`` with ``--without-pip`` and runs
``.venv/bin/python tools/bootstrap_pip.py``. It asks the index (``PIP_INDEX_URL``, default
https://pypi.org/simple; the JSON simple API of PEP 691) for pip's newest universal wheel,
checks the download against the index's SHA-256, and lets that wheel install itself (a pip
wheel runs as ``python pip.whl/pip install pip.whl``). Standard library only; no root needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
TIMEOUT_S = 60


def newest_wheel(index: str = INDEX) -> dict:
    """The index's entry (``filename``, ``url``, ``hashes``) for pip's newest py3 wheel."""
    request = urllib.request.Request(f"{index}/pip/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        files = json.load(response)["files"]
    wheels = [f for f in files if f["filename"].endswith("-py3-none-any.whl")
              and not f.get("yanked") and "sha256" in f.get("hashes", {})
              and re.fullmatch(r"pip-\d+(\.\d+)*-py3-none-any\.whl", f["filename"])]
    if not wheels:
        raise RuntimeError(f"{index}/pip/ lists no pip wheel")
    return max(wheels, key=lambda f: [int(p) for p in f["filename"].split("-")[1].split(".")])


def download(entry: dict, folder: Path, index: str = INDEX) -> Path:
    """Fetch ``entry``'s wheel into ``folder``; refuse it unless its SHA-256 matches."""
    url = urllib.parse.urljoin(f"{index}/pip/", entry["url"])
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        data = response.read()
    if hashlib.sha256(data).hexdigest() != entry["hashes"]["sha256"]:
        raise RuntimeError(f"{entry['filename']} from {url} does not match the index's SHA-256")
    path = folder / entry["filename"]
    path.write_bytes(data)
    return path


def main() -> int:
    if sys.prefix == sys.base_prefix:
        print("[venv] bootstrap_pip.py must run with the virtual environment's python",
              file=sys.stderr)
        return 2
    try:
        entry = newest_wheel()
        print(f"[venv] no ensurepip here: installing {entry['filename']} from {INDEX}")
        with tempfile.TemporaryDirectory() as folder:
            wheel = download(entry, Path(folder))
            subprocess.run([sys.executable, f"{wheel}/pip", "install", "-q", str(wheel)],
                           check=True)
    except (OSError, RuntimeError, KeyError, ValueError, subprocess.CalledProcessError) as error:
        print(f"[venv] error: could not install pip from {INDEX} ({error}); install the "
              f"python3-venv package (sudo apt-get install python3-venv) and run again",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
