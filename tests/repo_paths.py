"""Files of the repository under test, found from this file, so that the tests read the same
files whatever directory pytest runs from."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
TINY_RECIPE = RECIPES / "tiny.yaml"
"""The small codec recipe most tests build their model from."""
