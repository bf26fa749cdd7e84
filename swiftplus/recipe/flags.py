"""A training stage's ms-swift flags and environment, merged one way for every package that reads them.

The layers, later ones winning: the recipe's top-level `swift:` flags, what makes the stage that stage
(STAGE_FLAGS: a recipe may still override any of them), the stage's own flags. Training builds its argv from
this merge; validate, the doctor, the data gate and the topology read the same one, so none of them judges a
flag the stage would not run with.
"""
from __future__ import annotations

from swiftplus.core.stages import LORA, STAGE1, STAGE2

STAGE_FLAGS = {
    STAGE1: {"tuner_type": "full", "freeze_vit": True, "freeze_llm": True, "freeze_aligner": False},
    STAGE2: {"tuner_type": "full", "freeze_vit": False, "freeze_llm": False, "freeze_aligner": False},
    LORA: {"tuner_type": "lora"},
}


def stage_flags(recipe, stage: str) -> dict:
    """The flags `swift sft` trains `stage` with, before swiftplus adds model, output and data paths."""
    section = getattr(recipe, stage)
    return {**recipe.swift, **STAGE_FLAGS.get(stage, {}), **(section.flags if section is not None else {})}


def stage_env(recipe, stage: str) -> dict[str, str]:
    """The recipe's `env:` under the stage's own `env:`, as strings."""
    section = getattr(recipe, stage)
    env = {k: str(v) for k, v in recipe.env.items()}
    env.update({k: str(v) for k, v in (section.env if section is not None else {}).items()})
    return env


def is_false(value) -> bool:
    """A flag switched off as YAML writes it: `no` reads as False, and ms-swift takes the string 'no' too."""
    return str(value).lower() in ("no", "false")
