"""Issue 24, ``score --codes``: a ``.npy`` token file is checked from its header against the
file's size before anything is allocated, and every kind of damage is one line naming the file."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from simvq_audio.cli import main

from hostile_helpers import assert_main_refused, assert_refused, run_limited
from score_helpers import write_score_corpus


def npy_header(shape, descr="<i8") -> bytes:
    """The header of a .npy file of ``shape`` and dtype ``descr``, without its data."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return out.getvalue()


@pytest.fixture
def corpus(tmp_path):
    """The score corpus with a code folder of good .npy files (ids spk/a, b, silent)."""
    root = write_score_corpus(tmp_path)
    (root / "codes" / "spk").mkdir(parents=True)
    for utt_id in ("spk/a", "b", "silent"):
        np.save(root / "codes" / f"{utt_id}.npy", np.arange(4))
    return root


def score(corpus, *extra):
    return ["score", "--ref", str(corpus / "ref"), "--hyp", str(corpus / "hyp"), "--out",
            str(corpus / "out"), "--codes", str(corpus / "codes"), "--num-codes", "16",
            "--tokens-per-second", "50", *extra]


def test_a_header_claiming_2_to_the_40_elements_is_refused_in_bounded_memory(corpus):
    """Before: ``np.load`` believed the header and tried to allocate 8 TiB: a MemoryError
    traceback."""
    bad = corpus / "codes" / "spk" / "a.npy"
    bad.write_bytes(npy_header((2**40,)))
    assert_refused(run_limited(*score(corpus)), f"{bad}: its header claims shape (1099511627776,)",
                   "(8796093022208 bytes) but the file holds 0 bytes")


@pytest.mark.parametrize("content, message", [
    (bytes(range(256)) * 3, "not a readable .npy token array"),
    (npy_header((4,)) + bytes(16), "(32 bytes) but the file holds 16 bytes"),
    (npy_header((2, 3)) + bytes(64), "(48 bytes) but the file holds 64 bytes"),
    (npy_header((4,), "<f4") + bytes(16), "expected an integer token array, found float32"),
    (npy_header((4,), "|O"), "holds Python objects"),
    (npy_header((10**200,)), "(<an integer of about 202 digits> bytes)"),
    (npy_header((-2, -3)) + bytes(48), "claims the shape (-2, -3)"),
    (np.lib.format.magic(3, 0) + bytes(8), "not a readable .npy token array"),
    # an unclosed bracket in the header's padding (found by tools/fuzz_readers.py): numpy's
    # header parser raised tokenize.TokenError
    (npy_header((4,))[:-8] + b"((     \n" + bytes(32), "not a readable .npy token array"),
])
def test_a_damaged_npy_is_one_line(corpus, capsys, content, message):
    """Before: a header of 10**200 elements ended in an OverflowError traceback; negative sizes
    gave reshape's "can only specify one unknown dimension", a truncated file numpy's message
    without the sizes."""
    bad = corpus / "codes" / "b.npy"
    bad.write_bytes(content)
    assert_main_refused(main(score(corpus)), capsys, f"{bad}: ", message)


def test_a_fifo_among_the_codes_is_refused_without_waiting(corpus, capsys):
    """Before: ``np.load`` opened the FIFO for reading and waited for a writer forever."""
    fifo = corpus / "codes" / "b.npy"
    fifo.unlink()
    os.mkfifo(fifo)
    assert_main_refused(main(score(corpus)), capsys, f"{fifo}: not a regular file")
