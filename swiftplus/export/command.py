"""Recipe -> the `swift export` argv that merges a LoRA stage's adapters into a full model (pure).

swift writes into runs/<name>/export/output.partial, which run.py renames to output once the merged model
is whole: the argv names output.partial, in the plan as in the run.
"""
from __future__ import annotations

from pathlib import Path

from swiftplus.core import lineage, runs, stages
from swiftplus.core.argv import flag_args
from swiftplus.core.choices import SERVE_ATTN_IMPL
from swiftplus.core.errors import UserError
from swiftplus.plugins import plugin_paths
from swiftplus.recipe.schema import ExportSection, Recipe


def export_section(recipe: Recipe) -> ExportSection:
    if recipe.export is not None:
        return recipe.export
    if recipe.lora is not None:
        return ExportSection()  # from: lora, merge_lora: true
    raise UserError("nothing to export: the recipe has neither an export nor a lora section")


def adapters_source(recipe: Recipe) -> tuple[str, bool]:
    """(adapter checkpoint, resolved?); unresolved is a placeholder while the source stage is unfinished."""
    src = export_section(recipe).from_
    if src not in stages.TRAIN:
        path = Path(src).expanduser()
        return str(path), path.is_dir()
    if getattr(recipe, src) is None:
        raise UserError(f"export.from: {src}, but the recipe has no {src} section")
    ckpt = lineage.final_checkpoint(recipe, src)
    return (str(ckpt), True) if ckpt else (f"<{src}: final checkpoint>", False)


def export_flags(recipe: Recipe, adapters: str) -> dict:
    section = export_section(recipe)
    # recipe.swift is checked to hold only flags every swift command accepts; check_model is sft-only
    flags = {"attn_impl": SERVE_ATTN_IMPL, **recipe.swift, **section.flags, "adapters": adapters,
             "merge_lora": section.merge_lora, "output_dir": str(runs.partial_dir(recipe, stages.EXPORT))}
    if recipe.plugins:
        flags["external_plugins"] = plugin_paths(recipe.plugins)
    return flags


def export_argv(recipe: Recipe, adapters: str, swift: str = "swift") -> list[str]:
    return [swift, "export", *flag_args(export_flags(recipe, adapters))]


def export_env(recipe: Recipe) -> dict[str, str]:
    return {k: str(v) for k, v in recipe.env.items()}
