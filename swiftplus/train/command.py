"""Recipe stage -> the `swift sft` flags, argv and environment that train it (pure)."""
from __future__ import annotations

from pathlib import Path

from swiftplus.core import runs
from swiftplus.core.argv import flag_args
from swiftplus.data.prepare import dataset_specs
from swiftplus.plugins import plugin_paths
from swiftplus.recipe.flags import stage_env, stage_flags
from swiftplus.recipe.schema import Recipe, TrainSection

# Always on: versioned output dirs would break stage chaining; asking the hub offline costs retries.
FIXED_DEFAULTS = {"add_version": False, "check_model": False}


def sft_flags(recipe: Recipe, stage: str, model: str, resume_from: Path | None = None) -> dict:
    section: TrainSection = getattr(recipe, stage)
    root = runs.stage_dir(recipe, stage)
    flags: dict = {"model": model, "output_dir": str(runs.output_dir(recipe, stage)), **FIXED_DEFAULTS}
    flags.update(stage_flags(recipe, stage))
    flags["model"] = model
    flags["output_dir"] = str(runs.output_dir(recipe, stage))
    flags["dataset"] = [v for _, v in dataset_specs(section.dataset, root)]
    flags["val_dataset"] = [v for _, v in dataset_specs(section.val_dataset, root, "val")]
    plugins = plugin_paths(recipe.plugins)
    if plugins:
        flags["external_plugins"] = [*plugins, *_as_list(flags.get("external_plugins"))]
    if resume_from is not None:
        flags["resume_from_checkpoint"] = str(resume_from)
    return {k: v for k, v in flags.items() if v is not None and v != []}


def _as_list(value) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def sft_argv(recipe: Recipe, stage: str, model: str, swift: str = "swift", resume_from: Path | None = None) -> list[str]:
    return [swift, "sft", *flag_args(sft_flags(recipe, stage, model, resume_from))]


def sft_env(recipe: Recipe, stage: str, topology_env: dict[str, str]) -> dict[str, str]:
    """The stage's environment plus what torchrun needs on this node (topology.Topology.env)."""
    return {**stage_env(recipe, stage), **topology_env}
