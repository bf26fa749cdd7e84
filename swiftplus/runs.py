"""Run directories: one per stage under the recipe's run_dir, finished only when marked complete.

A stage is a function from (recipe, previous stage's run directory) to a new run directory; the
completion marker is the only thing a later stage trusts.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from swiftplus.recipe_schema import Recipe

COMPLETE = "complete.json"


def run_root(recipe: Recipe) -> Path:
    return Path(recipe.run_path())


def stage_dir(recipe: Recipe, stage: str) -> Path:
    if stage == "graft":
        return Path(recipe.graft_output() or run_root(recipe) / "graft")
    return run_root(recipe) / stage


def output_dir(recipe: Recipe, stage: str) -> Path:
    """Where `swift sft` / `swift export` write (the directory holding checkpoint-N)."""
    return stage_dir(recipe, stage) / "output"


def read_complete(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(directory) / COMPLETE).read_text())
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def final_checkpoint(recipe: Recipe, stage: str, pick: str = "last") -> Path | None:
    """The checkpoint a completed stage handed on; None while the stage is not complete."""
    if stage == "graft":
        d = stage_dir(recipe, "graft")
        return d if read_complete(d) is not None or (d / "swiftplus_graft.json").is_file() else None
    done = read_complete(stage_dir(recipe, stage))
    if not done:
        return None
    key = "best_checkpoint" if pick == "best" else "checkpoint"
    value = done.get(key) or done.get("checkpoint")
    return Path(value) if value else None
