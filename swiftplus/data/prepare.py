"""Datasets as a recipe names them, and the one gate in front of training: convert, store the lint, refuse or go.

Training calls prepare_datasets(); it converts every local entry (dropping bad rows, repairing the
repairable ones) into the path the `swift sft` argv names, writes the lint result into the stage's record,
and raises UserError when a dataset's share of bad rows exceeds the stage's max_bad_fraction.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from swiftplus.core import runs
from swiftplus.core.errors import UserError
from swiftplus.core.stages import TRAIN
from swiftplus.data.budget import TEMPLATES, TokenBudget
from swiftplus.data.convert import ConvertResult, convert_dataset
from swiftplus.data.formats import DatasetSpec
from swiftplus.data.writer import AtomicFile
from swiftplus.recipe.flags import stage_env, stage_flags
from swiftplus.recipe.schema import DatasetEntry

ISSUES_STORED = 1000


def as_spec(entry) -> DatasetSpec:
    """A recipe's DatasetEntry (or a plain path) as a DatasetSpec."""
    if isinstance(entry, DatasetSpec):
        return entry
    if isinstance(entry, str):
        return DatasetSpec(entry)
    return DatasetSpec(entry.path, getattr(entry, "format", "auto") or "auto", getattr(entry, "data_root", None))


def budget_for(recipe, stage: str, environ: Mapping[str, str] | None = None,
               tokenizer_dir: str | None = None) -> TokenBudget | None:
    """The stage's token budget: max_length and template from the recipe, MAX_PIXELS from its env (then the
    process environment). None when the recipe sets no max_length, its template has no image-token rule, or the
    rule needs the model directory and none is given."""
    flags = stage_flags(recipe, stage)
    template, max_length = flags.get("template"), flags.get("max_length")
    if not max_length or template not in TEMPLATES:
        return None
    if TEMPLATES[template].needs_model and tokenizer_dir is None:  # counted once the graft output exists
        return None
    env = {**(os.environ if environ is None else environ), **stage_env(recipe, stage)}
    try:
        length = int(max_length)
    except (TypeError, ValueError):
        raise UserError(f"{stage}.max_length: must be a whole number (got {max_length!r})") from None
    return TokenBudget.from_env(length, template, env, tokenizer_dir)


@dataclass
class StageDataset:
    stage: str
    field: str  # dataset | val_dataset
    spec: DatasetSpec
    budget: TokenBudget | None
    max_bad_fraction: float


def recipe_datasets(recipe) -> list[StageDataset]:
    """Every local dataset entry of every training stage (hub ids are left to ms-swift)."""
    out = []
    for stage in TRAIN:
        section = getattr(recipe, stage, None)
        if section is None:
            continue
        budget = budget_for(recipe, stage)
        for field_name in ("dataset", "val_dataset"):
            for entry in getattr(section, field_name):
                if isinstance(entry, str) and not is_local_dataset(entry):
                    continue
                out.append(StageDataset(stage, field_name, as_spec(entry), budget, section.max_bad_fraction))
    return out


def prepare_for_training(pairs: list[tuple[object, str]], lint_path: str, *, budget: TokenBudget | None = None,
                         max_bad_fraction: float = 0.0, deep: bool = False) -> list[ConvertResult]:
    """Convert each (entry, out .jsonl) and store the lint in lint_path; UserError past max_bad_fraction."""
    results, refused = [], []
    for entry, out in pairs:
        spec = as_spec(entry)
        result = convert_dataset([spec], out, deep=deep, budget=budget)
        results.append(result)
        report = result.report
        if report.file_errors or report.bad_fraction > max_bad_fraction or result.written == 0:
            refused.append(f"{spec.path}: {report.bad_rows} of {report.rows} rows have errors "
                           f"({report.bad_fraction:.2%}; allowed {max_bad_fraction:.2%})"
                           + (", the file itself is unusable" if report.file_errors else "")
                           + f" — dropped rows and why: {result.fixes_path}")
    record = {"ok": not refused, "max_bad_fraction": max_bad_fraction,
              "budget": None if budget is None else {"max_length": budget.max_length, "template": budget.template,
                                                     "max_pixels": budget.max_pixels},
              "datasets": [{**r.to_json(), "lint": _stored(r.report.to_json())} for r in results]}
    out = AtomicFile(lint_path)
    try:
        json.dump(record, out.f, indent=2, ensure_ascii=False)
        out.commit()
    except BaseException:
        out.abort()
        raise
    if refused:
        raise UserError("training refused: the data has errors\n  " + "\n  ".join(refused) +
                        f"\n  lint result: {lint_path}; fix the data (`swiftplus data lint PATH --fix --out FILE`) "
                        f"or allow a share of bad rows with max_bad_fraction in the stage")
    return results


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
        out.append((spec, str(runs.converted_dataset(stage_root, prefix, i, spec.path))))
    return out


def prepare_datasets(recipe, stage: str, stage_root: Path, record: Path, model: str,
                     environ: Mapping[str, str]) -> list[Path]:
    """The gate in front of `swift sft`: convert each local entry (train and val) to the path dataset_specs gave
    swift, rows checked against the stage's token budget, the lint kept in the stage's record (lint.json);
    refuses past max_bad_fraction. Returns the files the inputs record hashes (each source and its conversion)."""
    section = getattr(recipe, stage)
    pairs = [(entry, target) for key, prefix in (("dataset", "train"), ("val_dataset", "val"))
             for entry, target in dataset_specs(getattr(section, key), stage_root, prefix)
             if entry is not None]  # hub dataset ids: swift fetches and reads them itself
    if not pairs:
        return []
    tokenizer = model if (Path(model) / "config.json").is_file() else None
    budget = budget_for(recipe, stage, environ, tokenizer_dir=tokenizer)
    prepare_for_training(pairs, str(runs.lint_record(record)), budget=budget,
                         max_bad_fraction=section.max_bad_fraction)
    return [p for entry, target in pairs for p in (Path(entry.path), Path(target))]


def _stored(report: dict) -> dict:
    issues = report["issues"]
    report["issues_omitted"] += max(0, len(issues) - ISSUES_STORED)
    report["issues"] = issues[:ISSUES_STORED]
    return report
