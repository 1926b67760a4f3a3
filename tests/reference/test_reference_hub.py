"""``import-reference REPO_ID:PATH``: Hugging Face references against a fake hub on 127.0.0.1.

The CLI runs in a subprocess with ``HF_ENDPOINT`` pointing at the fake server and a temporary
``HF_HOME``, exactly as a user would set them; nothing reaches the real hub.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest

from simvq_audio.errors import UserInputError
from simvq_audio.reference import hub, import_reference_checkpoint

from repo_paths import FIXTURES

FIXTURE = FIXTURES / "reference" / "simvq_small.ckpt"
REPO = "zyx123/SimVQ"
PATH = "vq_audio_log/simvq_1k/1second/checkpoints/epoch=49-step=138600.ckpt"
WEIGHTS = "model.safetensors"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub(http.server.ThreadingHTTPServer):
    """Serves ``files`` ({"repo/path": bytes}) at ``/{repo}/resolve/{revision}/{path}`` with the
    headers ``hf_hub_download`` reads; anything else is a 404 with the hub's error header."""

    def __init__(self, files: dict[str, bytes]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakeHub

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        repo_and_rest = urllib.parse.unquote(self.path).split("/resolve/", 1)
        data = None
        if len(repo_and_rest) == 2 and "/" in repo_and_rest[1]:
            revision, path = repo_and_rest[1].split("/", 1)
            if revision in ("main", COMMIT):
                data = self.server.files.get(f"{repo_and_rest[0].lstrip('/')}/{path}")
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("X-Error-Message", "Entry not found")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_hub():
    server = FakeHub({f"{REPO}/{PATH}": FIXTURE.read_bytes()})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simvq_audio.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def hub_env(tmp_path: Path, endpoint: str, offline: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "hf_home"), HF_ENDPOINT=endpoint,
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return env


def test_download_then_offline_from_cache(fake_hub, tmp_path):
    env = hub_env(tmp_path, fake_hub.url)
    first = run_cli(["import-reference", f"{REPO}:{PATH}", str(tmp_path / "online")], env)
    assert first.returncode == 0, first.stderr
    assert any(r.startswith("GET ") for r in fake_hub.requests)
    cached = list((tmp_path / "hf_home").rglob("epoch=49-step=138600.ckpt"))
    assert cached and cached[0].read_bytes() == FIXTURE.read_bytes()

    fake_hub.shutdown()  # the hub is gone: only the cache can answer now
    fake_hub.server_close()
    fake_hub.requests.clear()
    second = run_cli(["import-reference", f"{REPO}:{PATH}@main", str(tmp_path / "offline")],
                     hub_env(tmp_path, fake_hub.url, offline=True))
    assert second.returncode == 0, second.stderr
    assert fake_hub.requests == []
    online, offline = tmp_path / "online", tmp_path / "offline"
    assert (online / WEIGHTS).read_bytes() == (offline / WEIGHTS).read_bytes()
    source = json.loads((offline / "config.json").read_text())["training"]
    assert source["hub"] == f"{REPO}:{PATH}@main"
    card = (tmp_path / "online" / "README.md").read_text()
    assert f"`{REPO}:{PATH}` (Hugging Face)" in card


def test_missing_file_on_the_hub_is_one_line(fake_hub, tmp_path):
    out = tmp_path / "model"
    result = run_cli(["import-reference", f"{REPO}:no/such.ckpt", str(out)],
                     hub_env(tmp_path, fake_hub.url))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"simvq-audio: error: no/such.ckpt does not exist in {REPO} at the default branch"]
    assert not out.exists()


def test_offline_without_cache_is_one_line(tmp_path):
    result = run_cli(["import-reference", f"{REPO}:{PATH}", str(tmp_path / "model")],
                     hub_env(tmp_path, "http://127.0.0.1:9", offline=True))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not in the Hugging Face cache" in lines[0]
    assert not (tmp_path / "model").exists()


def test_without_huggingface_hub_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(UserInputError, match=r"pip install 'simvq-audio\[hub\]'"):
        import_reference_checkpoint(f"{REPO}:{PATH}", tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_an_existing_local_path_wins(monkeypatch, tmp_path):
    local = tmp_path / "zyx123" / "SimVQ:model.ckpt"  # also reads as REPO_ID:PATH
    local.parent.mkdir()
    local.write_bytes(FIXTURE.read_bytes())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(hub, "download", lambda file: pytest.fail(f"downloaded {file}"))
    out = import_reference_checkpoint("zyx123/SimVQ:model.ckpt", tmp_path / "model")
    assert (out / "model.safetensors").is_file()


@pytest.mark.parametrize("text, expected", [
    ("zyx123/SimVQ:a/b.ckpt", hub.HubFile("zyx123/SimVQ", "a/b.ckpt")),
    ("zyx123/SimVQ:a/epoch=49-step=1.ckpt@v1.0",
     hub.HubFile("zyx123/SimVQ", "a/epoch=49-step=1.ckpt", "v1.0")),
    ("model.ckpt", None), ("dir/model.ckpt", None), ("SimVQ:model.ckpt", None),
])
def test_parse_hub_reference(text, expected):
    assert hub.parse_hub_reference(text) == expected
