"""`swiftplus train RECIPE --stage 1|2|lora [--resume] [--dry-run]`."""
from __future__ import annotations

from swiftplus.core.stages import stage_name
from swiftplus.core.tools import check_swift_version
from swiftplus.doctor.run import preflight
from swiftplus.recipe.load import load_recipe
from swiftplus.train.run import run_stage


def main(args) -> int:
    check_swift_version()  # first: flag names are only meaningful for a tested ms-swift
    stage = stage_name(args.stage)
    loaded = load_recipe(args.recipe, args.overrides)  # every flag checked before anything loads
    if not (args.dry_run or args.skip_preflight):
        preflight(loaded, [stage])
    return run_stage(loaded, stage, resume=args.resume, dry_run=args.dry_run, ref=args.recipe)
