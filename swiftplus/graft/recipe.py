"""A recipe's graft section -> the graft: resolve the template and donor, graft, and check the recipe agrees
with the ms-swift model type / template / plugin the graft family needs."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from swiftplus.core import hub, runs
from swiftplus.core.errors import UserError
from swiftplus.core.stages import GRAFT
from swiftplus.fixtures import build as build_fixture
from swiftplus.graft import MARKER, graft
from swiftplus.recipe.schema import Recipe

FIXTURE = "fixture:"


def graft_recipe(recipe: Recipe, *, force: bool = False, proof: bool = True, dry_run: bool = False) -> int:
    g = recipe.graft
    if g is None:
        raise UserError(f"recipe {recipe.name}: the recipe has no graft section")
    out = runs.stage_dir(recipe, GRAFT)
    if dry_run:
        family = f"family={g.family}, " if g.family else ""
        print(f"graft {g.template} + {g.donor} -> {out} (host={g.host}, {family}merger_init={g.merger_init}, "
              f"proof={g.proof})")
        return 0
    hub_name = g.hub or recipe.hub
    template = resolve_model(g.template, hub_name, what="graft.template")
    donor = resolve_model(g.donor, hub_name, what="graft.donor")
    if force and out.exists():
        if not (out / MARKER).is_file():
            raise UserError(f"--force: {out} is not a graft output; refusing to delete it")
        shutil.rmtree(out)
    result = graft(template, donor, out, host=g.host, family=g.family, merger_init=g.merger_init,
                   allow_dropped=tuple(g.allow_dropped), seed=g.seed, proof=g.proof and proof,
                   proof_layers=g.proof_layers)
    _check_recipe_agrees(recipe, result.swift)
    return 0


def resolve_model(ref: str, hub_name: str, *, what: str) -> Path:
    """A local path or hub id (core.hub), or `fixture:NAME`: a tiny model built offline into the cache."""
    if ref.startswith(FIXTURE):
        name = ref.removeprefix(FIXTURE)
        return build_fixture(name, hub.cache_root() / "fixtures" / name)
    return hub.resolve_model(ref, hub_name, what=what)


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
