"""Shared test set-up: small thread counts (CI has 2 cores) and a fixed seed per test."""

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
