"""`swiftplus graft RECIPE [--force] [--no-proof] [--dry-run]`."""
from __future__ import annotations

from swiftplus.core.stages import GRAFT
from swiftplus.doctor.run import preflight
from swiftplus.graft.recipe import graft_recipe
from swiftplus.recipe.load import load_recipe


def main(args) -> int:
    loaded = load_recipe(args.recipe, args.overrides)
    recipe = loaded.recipe
    if recipe.graft is not None and not (args.dry_run or args.skip_preflight):
        preflight(loaded, [GRAFT])  # before downloading template and donor
    return graft_recipe(recipe, force=args.force, proof=not args.no_proof, dry_run=args.dry_run)
