"""Every shipped recipe is present, documented and valid against the installed tools."""

import pytest

from swiftplus.recipe.load import load_recipe
from tests.helpers import REPO

SHIPPED = {"qwen3-8b-vl", "qwen3-8b-vl-lossless", "qwen3-vl-2b-0.6b", "qwen3-smvl", "qwen2.5-vl-7b-lora",
           "qwen2-vl-2b-coco-lora", "tiny", "qwen3-smvl-llava", "qwen3-8b-siglip"}
RECIPES = sorted((REPO / "recipes").glob("**/*.yaml"))


def test_recipe_set_is_complete():
    assert len(RECIPES) == len(SHIPPED)
    assert {p.stem for p in RECIPES} == SHIPPED


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_validates(path):
    loaded = load_recipe(str(path))
    assert loaded.recipe.name == path.stem


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_header_says_what_needs_and_command(path):
    head = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        head.append(line)
    text = "\n".join(head)
    assert len(head) >= 3, "a recipe opens with a comment header"
    assert "Needs:" in text, "the header says what the recipe needs (GPUs, memory)"
    assert "Run:" in text and ("make " in text or "swiftplus " in text), "the header gives the exact command"
