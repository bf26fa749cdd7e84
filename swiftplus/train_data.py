"""Before a stage trains: lint every local dataset entry and convert it into the jsonl swift reads.

The only place training touches swiftplus.data. The stage refuses to start when a dataset's share of bad
rows exceeds its max_bad_fraction; the lint result is kept in the stage's run record (lint.json).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from swiftplus.recipe_schema import Recipe
from swiftplus.sft_command import dataset_specs


def prepare_datasets(recipe: Recipe, stage: str, stage_root: Path, record: Path, model: str,
                     environ: Mapping[str, str]) -> list[Path]:
    """Convert each local entry (train and val) to the path sft_command gave swift, rows checked against the
    stage's token budget; returns the files the inputs record hashes (each source and its conversion)."""
    from swiftplus.data.prepare import budget_for, prepare_for_training

    section = getattr(recipe, stage)
    pairs = [(entry, target) for key, prefix in (("dataset", "train"), ("val_dataset", "val"))
             for entry, target in dataset_specs(getattr(section, key), stage_root, prefix)
             if entry is not None]  # hub dataset ids: swift fetches and reads them itself
    if not pairs:
        return []
    tokenizer = model if (Path(model) / "config.json").is_file() else None
    budget = budget_for(recipe, stage, environ, tokenizer_dir=tokenizer)
    prepare_for_training(pairs, str(Path(record) / "lint.json"), budget=budget,
                         max_bad_fraction=section.max_bad_fraction)
    return [p for entry, target in pairs for p in (Path(entry.path), Path(target))]
