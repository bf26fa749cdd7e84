"""`swiftplus rehearse RECIPE [--keep]`."""
from __future__ import annotations

from swiftplus.core.tools import check_swift_version
from swiftplus.recipe.load import load_recipe
from swiftplus.rehearse.run import rehearse


def main(args) -> int:
    check_swift_version()
    loaded = load_recipe(args.recipe, args.overrides)
    return rehearse(loaded, ref=args.recipe, keep=args.keep)
