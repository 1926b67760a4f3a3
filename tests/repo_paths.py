"""Files of the repository under test, found from this file, so that the tests read the same
files whatever directory pytest runs from (and whichever folder of tests/ a test lives in)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
TINY_RECIPE = RECIPES / "tiny.yaml"
"""The small codec recipe most tests build their model from."""
TINY_CAUSAL_RECIPE = RECIPES / "tiny_causal.yaml"
"""The same with a causal decoder (streams exactly)."""
TOOLS = REPO / "tools"
FIXTURES = REPO / "tests" / "fixtures"
"""Checked-in test data: the SimVQ authors' reference checkpoint and outputs (fixtures/reference/)
and the GAN parity outputs (fixtures/reference_gan_parity.npz)."""
