"""Recipe -> the `swift export` argv that merges a LoRA stage's adapters into a full model (pure)."""
from __future__ import annotations

from pathlib import Path

from swiftplus import runs
from swiftplus.argv import flag_args
from swiftplus.errors import UserError
from swiftplus.recipe_schema import ExportSection, Recipe
from swiftplus.sft_command import plugin_paths

TRAIN_STAGES = ("stage1", "stage2", "lora")


def export_section(recipe: Recipe) -> ExportSection:
    if recipe.export is not None:
        return recipe.export
    if recipe.lora is not None:
        return ExportSection()  # from: lora, merge_lora: true
    raise UserError("nothing to export: the recipe has neither an export nor a lora section")


def adapters_source(recipe: Recipe) -> tuple[str, bool]:
    """(adapter checkpoint, resolved?); unresolved is a placeholder while the source stage is unfinished."""
    src = export_section(recipe).from_
    if src not in TRAIN_STAGES:
        path = Path(src).expanduser()
        return str(path), path.is_dir()
    if getattr(recipe, src) is None:
        raise UserError(f"export.from: {src}, but the recipe has no {src} section")
    ckpt = runs.final_checkpoint(recipe, src)
    return (str(ckpt), True) if ckpt else (f"<{src}: final checkpoint>", False)


def export_flags(recipe: Recipe, adapters: str, output_dir: Path, merge_lora: bool | None = None) -> dict:
    section = export_section(recipe)
    # recipe.swift is checked to hold only flags every swift command accepts; check_model is sft-only
    flags = {**recipe.swift, **section.flags, "adapters": adapters,
             "merge_lora": section.merge_lora if merge_lora is None else merge_lora, "output_dir": str(output_dir)}
    if recipe.plugins:
        flags["external_plugins"] = plugin_paths(recipe)
    return flags


def export_argv(recipe: Recipe, adapters: str, output_dir: Path, merge_lora: bool | None = None,
                swift: str = "swift") -> list[str]:
    return [swift, "export", *flag_args(export_flags(recipe, adapters, output_dir, merge_lora))]
