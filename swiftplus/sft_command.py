"""Recipe stage -> the `swift sft` flags and argv that train it (pure: reads only completion markers)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swiftplus import runs
from swiftplus.argv import flag_args
from swiftplus.errors import UserError
from swiftplus.recipe_schema import DatasetEntry, Recipe, TrainSection

# What makes a stage that stage; a recipe may still override any of them explicitly.
STAGE_FLAGS = {
    "stage1": {"tuner_type": "full", "freeze_vit": True, "freeze_llm": True, "freeze_aligner": False},
    "stage2": {"tuner_type": "full", "freeze_vit": False, "freeze_llm": False, "freeze_aligner": False},
    "lora": {"tuner_type": "lora"},
}
# Always on: versioned output dirs would break stage chaining; asking the hub offline costs retries.
FIXED_DEFAULTS = {"add_version": False, "check_model": False}
STAGE_ORDER = ("graft", "stage1", "stage2", "lora")


@dataclass(frozen=True)
class InitSource:
    """Where a stage starts: another stage's final checkpoint, or a path / hub id given in the recipe."""

    stage: str | None  # graft | stage1 | stage2 | None for an explicit path or hub id
    pick: str = "last"  # last | best
    explicit: str | None = None

    def describe(self) -> str:
        if self.explicit:
            return self.explicit
        what = "best" if self.pick == "best" else "final"
        return f"<{self.stage}: {what} checkpoint>" if self.stage != "graft" else "<graft output>"


def init_source(recipe: Recipe, stage: str) -> InitSource:
    section: TrainSection = getattr(recipe, stage)
    init = section.init
    if init is None:
        earlier = [s for s in STAGE_ORDER[: STAGE_ORDER.index(stage)] if getattr(recipe, s) is not None]
        if not earlier:
            raise UserError(f"{stage}: nothing to start from; set {stage}.init")
        return InitSource(stage=earlier[-1])
    if init == "best":
        return InitSource(stage="stage1", pick="best")
    if init in STAGE_ORDER:
        return InitSource(stage=init)
    return InitSource(stage=None, explicit=init)


def resolve_init(recipe: Recipe, stage: str) -> tuple[str, bool]:
    """(model argument, resolved?). Unresolved means the previous stage has not completed yet."""
    src = init_source(recipe, stage)
    if src.explicit:
        return src.explicit, True
    if src.stage == "graft":
        return str(runs.stage_dir(recipe, "graft")), True
    ckpt = runs.final_checkpoint(recipe, src.stage, src.pick)
    return (str(ckpt), True) if ckpt else (src.describe(), False)


def is_local_dataset(value: str) -> bool:
    return Path(value).exists() or value.endswith((".json", ".jsonl"))


def dataset_specs(entries: list, stage_root: Path, prefix: str = "train") -> list[tuple[DatasetEntry | None, str]]:
    """Each entry as (lint/convert spec or None for a hub id, the value swift receives)."""
    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str) and not is_local_dataset(entry):
            out.append((None, entry))
            continue
        spec = entry if isinstance(entry, DatasetEntry) else DatasetEntry(path=entry)
        converted = stage_root / "data" / f"{prefix}-{i}-{Path(spec.path).stem}.jsonl"
        out.append((spec, str(converted)))
    return out


def sft_flags(recipe: Recipe, stage: str, model: str) -> dict:
    section: TrainSection = getattr(recipe, stage)
    root = runs.stage_dir(recipe, stage)
    flags: dict = {"model": model, "output_dir": str(runs.output_dir(recipe, stage)), **FIXED_DEFAULTS}
    flags.update(recipe.swift)
    flags.update(STAGE_FLAGS[stage])
    flags.update(section.flags)
    flags["model"] = model
    flags["output_dir"] = str(runs.output_dir(recipe, stage))
    flags["dataset"] = [v for _, v in dataset_specs(section.dataset, root)]
    flags["val_dataset"] = [v for _, v in dataset_specs(section.val_dataset, root, "val")]
    plugins = plugin_paths(recipe)
    if plugins:
        flags["external_plugins"] = [*plugins, *_as_list(flags.get("external_plugins"))]
    return {k: v for k, v in flags.items() if v is not None and v != []}


def _as_list(value) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def plugin_paths(recipe: Recipe) -> list[str]:
    from swiftplus.recipe_check import PLUGINS_DIR

    return [str(PLUGINS_DIR / f"{name}.py") for name in recipe.plugins]


def sft_argv(recipe: Recipe, stage: str, model: str, swift: str = "swift") -> list[str]:
    return [swift, "sft", *flag_args(sft_flags(recipe, stage, model))]


def stage_env(recipe: Recipe, stage: str) -> dict[str, str]:
    section = getattr(recipe, stage)
    env = {k: str(v) for k, v in recipe.env.items()}
    env.update({k: str(v) for k, v in (section.env if section is not None else {}).items()})
    return env
