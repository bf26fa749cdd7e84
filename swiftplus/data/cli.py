"""`swiftplus data lint|convert`: check manifests before training, write ms-swift's JSON Lines.

Exit status: 0 clean (repairs and warnings allowed), 1 when rows or files have errors, 2 for a UserError.
A PATH that is not a .json/.jsonl file is read as a recipe: every dataset of its training stages, each with
its stage's token budget.
"""
from __future__ import annotations

import json
import os
import sys

from swiftplus.core.errors import UserError
from swiftplus.data.budget import TokenBudget
from swiftplus.data.convert import convert_dataset
from swiftplus.data.formats import FORMATS, DatasetSpec
from swiftplus.data.lint import lint_dataset
from swiftplus.data.prepare import recipe_datasets
from swiftplus.data.report_view import render
from swiftplus.recipe.load import load_recipe

SHOW_ISSUES = 20


def add_data_parser(subparsers) -> None:
    p = subparsers.add_parser("data", help="lint or convert datasets (swift, llava, vision-tag, cauldron)")
    sub = p.add_subparsers(dest="data_verb", metavar="ACTION", parser_class=type(p))
    sub.required = True

    lint = sub.add_parser("lint", help="check manifests row by row; --fix writes a clean copy")
    _inputs(lint)
    lint.add_argument("--fix", action="store_true", help="write a clean ms-swift jsonl (--out) and a fixes list")
    lint.add_argument("--out", help="clean output for --fix (.jsonl); its fixes list goes beside it")
    lint.add_argument("--schema-only", action="store_true", help="no file access: skip existence/image checks")
    lint.add_argument("--workers", type=int, help="processes for big JSON Lines files (default: idle cores, up to 2)")
    lint.add_argument("--show", type=int, default=SHOW_ISSUES, metavar="N", help="issues to list (default 20)")

    convert = sub.add_parser("convert", help="any supported format -> ms-swift messages/images jsonl")
    _inputs(convert)
    convert.add_argument("--out", required=True, help="output .jsonl; the fixes list goes beside it")


def _inputs(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="manifest .json/.jsonl files, or a recipe")
    p.add_argument("--format", default="auto", choices=("auto", *FORMATS), help="default: detected per file")
    p.add_argument("--data-root", help="directory relative media paths are under")
    p.add_argument("--deep", action="store_true", help="decode every image fully (default: header check)")
    p.add_argument("--max-length", type=int, help="token budget: text + image tokens must fit")
    p.add_argument("--template", help="ms-swift template the budget follows (qwen2_vl, qwen2_5_vl, qwen3_vl, ...)")
    p.add_argument("--max-pixels", type=int, help="image pixel budget (default: $MAX_PIXELS)")
    p.add_argument("--min-pixels", type=int, help="image minimum pixels (default: $MIN_PIXELS)")
    p.add_argument("--tokenizer", help="model/tokenizer directory: count text tokens exactly")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="when PATH is a recipe: override a key, e.g. stage1.max_length=4096 (repeatable)")


def main(args) -> int:
    return {"lint": lint_command, "convert": convert_command}[args.data_verb](args)


def lint_command(args) -> int:

    if args.fix and not args.out:
        raise UserError("data lint --fix: give --out FILE.jsonl for the clean copy")
    if args.out and not args.fix:
        raise UserError("data lint: --out only goes with --fix (or use `swiftplus data convert`)")
    groups = _groups(args)
    if args.fix:
        if len(groups) > 1:
            raise UserError("data lint --fix: stages with different token budgets; fix one manifest at a time")
        budget, specs = groups[0]
        result = convert_dataset(specs, args.out, deep=args.deep, budget=budget, check_media=not args.schema_only)
        _emit(args, result.report, result)
        return 0 if result.report.ok else 1
    reports = []
    for budget, specs in groups:
        reports.append(lint_dataset(specs, deep=args.deep, budget=budget, check_media=not args.schema_only,
                                    workers=args.workers))
    report = reports[0]
    for other in reports[1:]:
        report.files += other.files
        report.file_errors += other.file_errors
        report.merge(other)
    _emit(args, report, None)
    return 0 if report.ok else 1


def convert_command(args) -> int:

    groups = _groups(args)
    if len(groups) > 1:
        raise UserError("data convert: stages with different token budgets; convert one manifest at a time")
    budget, specs = groups[0]
    result = convert_dataset(specs, args.out, deep=args.deep, budget=budget)
    _emit(args, result.report, result)
    return 0 if result.report.ok else 1


def _groups(args) -> list[tuple]:
    """[(budget, specs)]: manifests given directly share the command line's budget; a recipe's datasets
    take their stage's."""

    budget = None
    if args.max_length or args.template:
        if not (args.max_length and args.template):
            raise UserError("token budget: give both --max-length and --template")
        budget = TokenBudget.from_env(args.max_length, args.template, tokenizer_dir=args.tokenizer)
        budget.max_pixels = args.max_pixels or budget.max_pixels
        budget.min_pixels = args.min_pixels or budget.min_pixels
    groups: dict = {}
    for path in args.paths:
        if path.endswith((".json", ".jsonl")) or (os.path.isfile(path) and not path.endswith((".yaml", ".yml"))):
            groups.setdefault(_key(budget), (budget, []))[1].append(DatasetSpec(path, args.format, args.data_root))
            continue

        found = recipe_datasets(load_recipe(path, args.overrides).recipe)
        if not found:
            raise UserError(f"recipe {path}: no local datasets in its training stages")
        for item in found:
            b = budget or item.budget
            groups.setdefault(_key(b), (b, []))[1].append(item.spec)
    return list(groups.values())


def _key(budget) -> tuple | None:
    return None if budget is None else (budget.max_length, budget.template, budget.max_pixels, budget.min_pixels)


def _emit(args, report, result) -> None:
    if args.json:
        out = report.to_json()
        if result is not None:
            out["converted"] = result.to_json()
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return

    render(report, result, show=getattr(args, "show", SHOW_ISSUES))

