"""The reference cache: a value is computed once per (what, samples, rate), any change of those
computes it again, a damaged or unwritable cache only costs time; the scorers' reference-side
values come from it unchanged."""

import json

import numpy as np
import pytest

from simvq_audio.metrics.reference_cache import ReferenceCache, weights_stamp
from simvq_audio.metrics.scorers import ScoreInput, ScorerOptions


class Counting:
    """``compute`` that counts its calls and returns a JSON value."""

    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def test_a_value_is_computed_once_per_key(tmp_path):
    cache = ReferenceCache(tmp_path / "cache")
    samples = np.random.default_rng(0).standard_normal(1000)
    compute = Counting({"sig": 3.25, "text": "hello"})
    assert cache.get("dnsmos v1", samples, 16000, compute) == compute.value
    assert cache.get("dnsmos v1", samples.copy(), 16000, compute) == compute.value
    assert compute.calls == 1
    changed = samples.copy()
    changed[500] += 1e-12
    for what, wav, rate in (("dnsmos v1", changed, 16000), ("dnsmos v2", samples, 16000),
                            ("dnsmos v1", samples, 24000), ("dnsmos v1", samples[:-1], 16000)):
        cache.get(what, wav, rate, compute)
    assert compute.calls == 5
    assert len(list((tmp_path / "cache").glob("*.json"))) == 5


def test_a_damaged_file_is_computed_again_and_an_unwritable_cache_still_answers(tmp_path):
    cache = ReferenceCache(tmp_path / "cache")
    samples = np.ones(10)
    compute = Counting(1.5)
    cache.get("x", samples, 8000, compute)
    path = tmp_path / "cache" / f"{cache.key('x', samples, 8000)}.json"
    path.write_text("{not json")
    assert cache.get("x", samples, 8000, compute) == 1.5 and compute.calls == 2
    assert json.loads(path.read_text())["value"] == 1.5          # replaced
    (tmp_path / "file").write_text("")
    blocked = ReferenceCache(tmp_path / "file" / "cache")         # a folder under a file
    assert blocked.get("x", samples, 8000, compute) == 1.5 and compute.calls == 3


def test_weights_stamp_changes_when_the_file_is_replaced(tmp_path):
    path = tmp_path / "weights.pt"
    path.write_bytes(b"1234")
    first = weights_stamp(path)
    path.write_bytes(b"12345")
    assert weights_stamp(path) != first and str(path) in first


def test_dnsmos_of_the_reference_comes_from_the_cache_unchanged(tmp_path):
    pytest.importorskip("onnxruntime")
    from simvq_audio.metrics.dnsmos import load
    from simvq_audio.metrics.synthetic import speech_like

    scorer = load(ScorerOptions())
    rng = np.random.default_rng(0)
    ref = speech_like(2.0, 16000, rng).astype(np.float64)
    hyp = ref + 0.05 * rng.standard_normal(len(ref))
    uncached = scorer.score(ScoreInput(ref, hyp, 16000))
    cache = ReferenceCache(tmp_path)
    first = scorer.score(ScoreInput(ref, hyp, 16000, reference_cache=cache))
    calls = []
    original = scorer.model.scores
    scorer.model.scores = lambda wav: calls.append(len(wav)) or original(wav)
    second = scorer.score(ScoreInput(ref, hyp, 16000, reference_cache=cache))
    assert len(calls) == 1, "only the hypothesis is scored the second time"
    assert first == uncached and second == uncached
