"""``tools/fuzz_readers.py``: damaged copies of real files given to every reader of files from
strangers (the authors' checkpoint, model directories, .codes, YAML configs, .npy tokens, PNG,
lhotse manifests) under an address-space limit give a one-line refusal or a read, nothing else."""

import subprocess
import sys

from repo_paths import TOOLS


def test_every_reader_holds_against_damaged_copies_of_real_files():
    result = subprocess.run([sys.executable, str(TOOLS / "fuzz_readers.py"), "--cases", "25",
                             "--seed", "1"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "200 cases, 200 held, 0 failed" in result.stdout, result.stdout
