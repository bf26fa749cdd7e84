"""`swiftplus run RECIPE [--resume] [--dry-run]`."""
from __future__ import annotations

from swiftplus.core.tools import check_swift_version
from swiftplus.doctor.run import preflight, run_stages
from swiftplus.pipeline.run import run_pipeline
from swiftplus.recipe.load import load_recipe


def main(args) -> int:
    check_swift_version()
    loaded = load_recipe(args.recipe, args.overrides)
    if not (args.dry_run or args.skip_preflight):
        preflight(loaded, run_stages(loaded.recipe))  # the endpoint eval starts, too: before any training
    return run_pipeline(loaded, ref=args.recipe, resume=args.resume, dry_run=args.dry_run)
