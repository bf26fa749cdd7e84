"""`swiftplus export RECIPE [--merge-lora] [--dry-run]`."""
from __future__ import annotations


def main(args) -> int:
    from swiftplus.export import run_export
    from swiftplus.recipe import load_recipe
    from swiftplus.versions import check_swift_version

    check_swift_version()
    loaded = load_recipe(args.recipe, args.overrides)
    return run_export(loaded, dry_run=args.dry_run, ref=args.recipe)
