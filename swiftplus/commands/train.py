"""`swiftplus train RECIPE --stage 1|2|lora [--resume] [--dry-run]`."""
from __future__ import annotations


def main(args) -> int:
    from swiftplus.recipe import load_recipe
    from swiftplus.stage_state import stage_name
    from swiftplus.train import run_stage
    from swiftplus.versions import check_swift_version

    check_swift_version()  # first: flag names are only meaningful for a tested ms-swift
    stage = stage_name(args.stage)
    loaded = load_recipe(args.recipe, args.overrides)  # every flag checked before anything loads
    if not args.dry_run:
        from swiftplus.synthetic import ensure

        ensure(loaded.recipe)
    return run_stage(loaded, stage, resume=args.resume, dry_run=args.dry_run, ref=args.recipe)
