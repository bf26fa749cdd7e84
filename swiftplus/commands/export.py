"""`swiftplus export RECIPE [--merge-lora] [--dry-run]`."""
from __future__ import annotations

from swiftplus.core.stages import EXPORT
from swiftplus.core.tools import check_swift_version
from swiftplus.doctor.run import preflight
from swiftplus.export.run import run_export
from swiftplus.recipe.load import load_recipe


def main(args) -> int:
    check_swift_version()
    loaded = load_recipe(args.recipe, args.overrides)
    if not (args.dry_run or args.skip_preflight):
        preflight(loaded, [EXPORT])
    return run_export(loaded, dry_run=args.dry_run, ref=args.recipe)
