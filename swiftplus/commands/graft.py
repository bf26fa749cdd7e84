"""`swiftplus graft RECIPE [--force] [--no-proof] [--dry-run]`."""
from __future__ import annotations

from swiftplus.graft.recipe import graft_recipe
from swiftplus.recipe.load import load_recipe


def main(args) -> int:
    recipe = load_recipe(args.recipe, args.overrides).recipe
    return graft_recipe(recipe, force=args.force, proof=not args.no_proof, dry_run=args.dry_run)
