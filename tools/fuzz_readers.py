"""Feed damaged copies of real files to every reader of files from strangers, and count what
each reader makes of them: a one-line refusal (``UserInputError``), a successful read, or a
failure (any other exception, a message of several lines or over 1000 characters, or running out
of the memory limit).

    python tools/fuzz_readers.py [--cases 300] [--seed 0] [--memory-gb 3]

For each reader, ``--cases`` inputs are made from one real, valid file by a random choice of:
random bytes, a truncation, 1-8 bytes set at random places, bytes inserted or removed; the
authors' checkpoint also gets edits of its pickle inside an archive with correct checksums (so
that the unpickler, not the CRC, meets them). The process runs under an address-space limit of
``--memory-gb``, so a reader that believes a size it reads fails here instead of taking the
machine. The table lists per reader the cases, refusals, reads and failures; the exit status is
1 when any case failed. Readers: the SimVQ authors' checkpoint (safe unpickler and conversion),
a model directory's ``config.json`` and ``model.safetensors`` (``SimVQCodec.from_pretrained``),
``.codes`` files, a YAML config, ``.npy`` token arrays, a PNG image, and a lhotse CutSet
manifest (plain or gzipped JSON lines, as ``tokenize --lhotse`` reads it).
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import resource
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from simvq_audio.codec import SimVQCodec
from simvq_audio.codec.config import load_config
from simvq_audio.codes import read_codes
from simvq_audio.data.lhotse_manifest import read_lhotse_manifests
from simvq_audio.errors import UserInputError
from simvq_audio.image.image_io import read_image
from simvq_audio.model_dir import CONFIG_NAME, WEIGHTS_NAME
from simvq_audio.reference.convert import convert_state
from simvq_audio.reference.safe_pickle import TorchCheckpoint
from simvq_audio.token_arrays import read_token_array

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "tests" / "fixtures" / "reference" / "simvq_small.ckpt"
TINY_RECIPE = REPO / "recipes" / "tiny.yaml"
LHOTSE_CUTS = REPO / "tests" / "data" / "lhotse_fixtures" / "cuts.jsonl.gz"
MAX_MESSAGE = 1000
"""Longest acceptable message (a mismatch between weights and config lists a few tensor names
with their shapes per kind of problem)."""


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A damaged copy of ``data``: random bytes, a truncation, bytes set, inserted or removed."""
    kind = rng.choice(["random", "truncate", "set", "insert", "delete"])
    if kind == "random":
        return rng.randbytes(rng.randint(0, 2 * len(data)))
    if kind == "truncate":
        return data[:rng.randrange(len(data))]
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(out) + (kind == "insert"))
        if kind == "set" and position < len(out):
            out[position] = rng.randrange(256)
        elif kind == "insert":
            out[position:position] = rng.randbytes(rng.randint(1, 4))
        elif position < len(out):
            del out[position:position + rng.randint(1, 4)]
    return bytes(out)


def rezip_with_pickle(archive: bytes, rng: random.Random) -> bytes:
    """The checkpoint ``archive`` with its ``data.pkl`` damaged and its checksums right."""
    source, out = zipfile.ZipFile(io.BytesIO(archive)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.endswith("data.pkl"):
                content = mutate(content, rng)
            target.writestr(info.filename, content)
    return out.getvalue()


class Cases:
    """The valid files the readers start from, made once in ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        torch.manual_seed(0)
        codec = SimVQCodec.from_config(TINY_RECIPE)
        self.model = codec.save_pretrained(folder / "model")
        codes = io.BytesIO()
        codec.save_codes(codec.encode(torch.randn(24000) * 0.1, 24000), codes)
        self.codes = codes.getvalue()
        self.checkpoint = CHECKPOINT.read_bytes()
        self.yaml = TINY_RECIPE.read_bytes()
        npy = io.BytesIO()
        np.save(npy, np.arange(200, dtype=np.int64).reshape(2, 100))
        self.npy = npy.getvalue()
        png = io.BytesIO()
        Image.fromarray(np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)).save(png, "PNG")
        self.png = png.getvalue()
        self.lhotse_gz = LHOTSE_CUTS.read_bytes()
        self.lhotse = gzip.decompress(self.lhotse_gz)

    def write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def model_dir(self, which: str, data: bytes) -> Path:
        folder = self.folder / "damaged-model"
        folder.mkdir(exist_ok=True)
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            content = data if name == which else (self.model / name).read_bytes()
            (folder / name).write_bytes(content)
        return folder


def readers(cases: Cases) -> dict[str, Callable[[random.Random], None]]:
    """Reader name -> one damaged case read by it."""

    def checkpoint(rng: random.Random) -> None:
        damaged = (rezip_with_pickle(cases.checkpoint, rng) if rng.random() < 0.5
                   else mutate(cases.checkpoint, rng))
        with TorchCheckpoint(cases.write("c.ckpt", damaged)) as loaded:
            convert_state(loaded.root)

    def config_json(rng: random.Random) -> None:
        SimVQCodec.from_pretrained(cases.model_dir(
            CONFIG_NAME, mutate((cases.model / CONFIG_NAME).read_bytes(), rng)))

    def weights(rng: random.Random) -> None:
        SimVQCodec.from_pretrained(cases.model_dir(
            WEIGHTS_NAME, mutate((cases.model / WEIGHTS_NAME).read_bytes(), rng)))

    def lhotse(rng: random.Random) -> None:
        manifest = cases.lhotse_gz if rng.random() < 0.5 else cases.lhotse
        read_lhotse_manifests([cases.write("cuts.jsonl", mutate(manifest, rng))])

    return {
        "authors' checkpoint": checkpoint,
        "model dir config.json": config_json,
        "model dir weights": weights,
        ".codes": lambda rng: read_codes(cases.write("x.codes", mutate(cases.codes, rng))),
        "YAML config": lambda rng: load_config(cases.write("c.yaml", mutate(cases.yaml, rng))),
        ".npy tokens": lambda rng: read_token_array(cases.write("t.npy", mutate(cases.npy, rng))),
        "PNG image": lambda rng: read_image(cases.write("i.png", mutate(cases.png, rng))),
        "lhotse manifest": lhotse,
    }


def run_reader(read: Callable[[random.Random], None], count: int, seed: int
               ) -> tuple[int, int, list[str]]:
    """``(refused, read, failures)`` of ``count`` cases."""
    refused = accepted = 0
    failures = []
    for case in range(count):
        rng = random.Random(seed * 1_000_003 + case)
        try:
            read(rng)
            accepted += 1
        except UserInputError as error:
            message = str(error)
            if "\n" in message or len(message) > MAX_MESSAGE:
                failures.append(f"case {case}: message of {len(message)} characters")
            else:
                refused += 1
        except (Exception, MemoryError) as error:  # noqa: BLE001 (what the tool counts)
            failures.append(f"case {case}: {type(error).__name__}: {str(error)[:200]}")
    return refused, accepted, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300, help="cases per reader")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-gb", type=float, default=3.0,
                        help="address-space limit of this process")
    args = parser.parse_args()
    limit = int(args.memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        cases = Cases(Path(folder))
        rows, failed = [], []
        for name, read in readers(cases).items():
            refused, accepted, failures = run_reader(read, args.cases, args.seed)
            rows.append((name, args.cases, refused, accepted, len(failures)))
            failed += [f"{name}: {failure}" for failure in failures]
    print("| reader | cases | refused (one line) | read | failed |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")
    total = sum(row[1] for row in rows)
    print(f"\n{total} cases, {total - len(failed)} held, {len(failed)} failed "
          f"(address-space limit {args.memory_gb:g} GB, seed {args.seed})")
    for line in failed[:20]:
        print("  " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
