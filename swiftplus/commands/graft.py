"""`swiftplus graft RECIPE`: resolve the template and donor, graft, and check the recipe agrees with the
ms-swift model type / template / plugin the graft family needs."""
from __future__ import annotations

import json
import shutil
import sys

from swiftplus.errors import UserError


def main(args) -> int:
    from swiftplus.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides).recipe
    return graft_recipe(recipe, force=args.force, proof=not args.no_proof, dry_run=args.dry_run)


def graft_recipe(recipe, *, force: bool = False, proof: bool = True, dry_run: bool = False) -> int:
    from swiftplus import hub, runs
    from swiftplus.graft import MARKER, graft

    g = recipe.graft
    if g is None:
        raise UserError(f"recipe {recipe.name}: the recipe has no graft section")
    out = runs.stage_dir(recipe, "graft")
    if dry_run:
        print(f"graft {g.template} + {g.donor} -> {out} (merger_init={g.merger_init}, proof={g.proof})")
        return 0
    hub_name = g.hub or recipe.hub
    template = hub.resolve_model(g.template, hub_name, what="graft.template")
    donor = hub.resolve_model(g.donor, hub_name, what="graft.donor")
    if force and out.exists():
        if not (out / MARKER).is_file():
            raise UserError(f"--force: {out} is not a graft output; refusing to delete it")
        shutil.rmtree(out)
    result = graft(template, donor, out, merger_init=g.merger_init, allow_dropped=tuple(g.allow_dropped),
                   seed=g.seed, proof=g.proof and proof, proof_layers=g.proof_layers)
    _check_recipe_agrees(recipe, result.swift)
    return 0


def _check_recipe_agrees(recipe, swift: dict) -> None:
    """Warn (stderr) where the recipe's swift settings differ from what the grafted family needs."""
    want = {"model_type": swift["swift_model_type"], "template": swift["swift_template"]}
    for key, value in want.items():
        have = recipe.swift.get(key) if isinstance(recipe.swift, dict) else getattr(recipe.swift, key, None)
        if have is not None and have != value:
            print(f"warning: recipe swift.{key} is {have!r} but the graft needs {value!r}", file=sys.stderr)
    plugins = [p.rsplit("/", 1)[-1].removesuffix(".py") for p in swift["swift_external_plugins"]]
    missing = [p for p in plugins if p not in recipe.plugins]
    if missing:
        print(f"warning: the graft needs ms-swift plugin(s) {missing}; add `plugins: {json.dumps(missing)}` "
              "to the recipe so every swift command gets --external_plugins", file=sys.stderr)
