"""Resolve ``REPO_ID:PATH_IN_REPO[@REVISION]`` to a local file through the Hugging Face cache.

``huggingface_hub`` (the ``hub`` extra) is used the ordinary way, so ``HF_HOME`` /
``HF_HUB_CACHE``, ``HF_ENDPOINT``, ``HF_TOKEN`` and ``HF_HUB_OFFLINE`` work as everywhere else:
a file downloaded once is found in the cache offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from simvq_audio.errors import UserInputError

_REFERENCE = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+):(?P<path>[^@]+)(?:@(?P<revision>.+))?")


@dataclass(frozen=True)
class HubFile:
    """A file of a Hugging Face model repository (``revision`` None: the default branch)."""

    repo_id: str
    path: str
    revision: str | None = None

    def __str__(self) -> str:
        return f"{self.repo_id}:{self.path}" + (f"@{self.revision}" if self.revision else "")


def parse_hub_reference(text: str) -> HubFile | None:
    """``"owner/name:path/in/repo.ckpt[@revision]"`` -> :class:`HubFile`; None when ``text``
    does not have that form."""
    match = _REFERENCE.fullmatch(text)
    if match is None:
        return None
    return HubFile(match["repo"], match["path"], match["revision"])


def download(file: HubFile) -> Path:
    """The local path of ``file``: from the cache, or downloaded into it.

    Raises :class:`UserInputError` (one line) when ``huggingface_hub`` is not installed, the
    repository, revision or file does not exist, or the file is neither cached nor reachable.
    """
    try:
        # optional (the hub extra): imported when downloading
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise UserInputError(f"{file} names a Hugging Face file, but huggingface_hub is not "
                             f"installed: pip install 'simvq-audio[hub]'") from None
    try:
        return Path(hf_hub_download(file.repo_id, file.path, revision=file.revision))
    except Exception as error:  # the library's own error types, whatever its version
        raise UserInputError(_explain(file, error)) from None


def _explain(file: HubFile, error: Exception) -> str:
    kinds = {cls.__name__ for cls in type(error).__mro__}
    revision = file.revision or "the default branch"
    if "LocalEntryNotFoundError" in kinds:
        return (f"cannot get {file}: it is not in the Hugging Face cache and the hub cannot be "
                f"reached (offline: HF_HUB_OFFLINE, or no network)")
    if kinds & {"EntryNotFoundError", "RemoteEntryNotFoundError"}:
        return f"{file.path} does not exist in {file.repo_id} at {revision}"
    if "RevisionNotFoundError" in kinds:
        return f"{file.repo_id} has no revision {revision}"
    if "RepositoryNotFoundError" in kinds:
        return (f"Hugging Face repository {file.repo_id} not found (or private: log in with "
                f"`hf auth login` or set HF_TOKEN)")
    first_line = next((line for line in str(error).splitlines() if line.strip()), "")
    return f"cannot download {file}: {type(error).__name__}: {first_line}"
