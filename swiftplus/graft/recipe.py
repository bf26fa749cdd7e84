"""A recipe's graft section -> the graft: resolve the template and donor, graft (then the same donor into each of
graft.also_into), and check the recipe agrees with the ms-swift model type / template / plugin each family needs."""
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
from swiftplus.graft.command import GraftOptions, plan_graft
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
        if _local(g.template) and _local(g.donor):  # a hub model or a fixture is planned once it is there
            print(plan_graft(Path(g.template).expanduser(), Path(g.donor).expanduser(),
                             GraftOptions(**_options(g, proof))).summary())
        for host in g.also_into:
            print(f"graft {host.template} + {g.donor} -> {runs.host_graft_dir(recipe, host.name)} (for comparison)")
        return 0
    hub_name = g.hub or recipe.hub
    template = resolve_model(g.template, hub_name, what="graft.template")
    donor = resolve_model(g.donor, hub_name, what="graft.donor")
    if force and out.exists():
        if not (out / MARKER).is_file():
            raise UserError(f"--force: {out} is not a graft output; refusing to delete it")
        shutil.rmtree(out)
    result = graft(template, donor, out, **_options(g, proof))
    _check_recipe_agrees(recipe, result.swift, recipe.swift, "swift")
    for i, host in enumerate(g.also_into):
        print(f"graft: the same donor into host {host.name} ({host.template}), for comparison", flush=True)
        host_out = runs.host_graft_dir(recipe, host.name)
        if force and (host_out / MARKER).is_file():
            shutil.rmtree(host_out)
        result = graft(resolve_model(host.template, hub_name, what=f"graft.also_into[{i}].template"), donor, host_out,
                       host=host.host, merger_init=host.merger_init, allow_dropped=tuple(host.allow_dropped),
                       seed=g.seed, proof=g.proof and proof, proof_layers=g.proof_layers)
        _check_recipe_agrees(recipe, result.swift, host.swift, f"graft.also_into[{i}].swift")
    return 0


def _options(g, proof: bool) -> dict:
    """The recipe's graft section as graft() / GraftOptions take it."""
    return dict(host=g.host, family=g.family, merger_init=g.merger_init, allow_dropped=tuple(g.allow_dropped),
                seed=g.seed, proof=g.proof and proof, proof_layers=g.proof_layers)


def _local(ref: str) -> bool:
    return not ref.startswith(FIXTURE) and (Path(ref).expanduser() / "config.json").is_file()


def fixture_dir(name: str) -> Path:
    """Where `fixture:NAME` is built (and found again): the swiftplus cache."""
    return hub.cache_root() / "fixtures" / name


def resolve_model(ref: str, hub_name: str, *, what: str) -> Path:
    """A local path or hub id (core.hub), or `fixture:NAME`: a tiny model built offline into the cache."""
    if ref.startswith(FIXTURE):
        name = ref.removeprefix(FIXTURE)
        return build_fixture(name, fixture_dir(name))
    return hub.resolve_model(ref, hub_name, what=what)


def model_reference(ref: str) -> str:
    """What `swift deploy --model` is given for a graft input, without building or downloading anything: a
    fixture's cache directory, or the path or hub id as the recipe spells it."""
    return str(fixture_dir(ref.removeprefix(FIXTURE))) if ref.startswith(FIXTURE) else ref


def _check_recipe_agrees(recipe, swift: dict, flags: dict, where: str) -> None:
    """Warn (stderr) where the flags that serve a graft differ from what its family needs."""
    want = {"model_type": swift["swift_model_type"], "template": swift["swift_template"]}
    for key, value in want.items():
        have = flags.get(key)
        if have is not None and have != value:
            print(f"warning: recipe {where}.{key} is {have!r} but the graft needs {value!r}", file=sys.stderr)
    plugins = [p.rsplit("/", 1)[-1].removesuffix(".py") for p in swift["swift_external_plugins"]]
    missing = [p for p in plugins if p not in recipe.plugins]
    if missing:
        print(f"warning: the graft needs ms-swift plugin(s) {missing}; add `plugins: {json.dumps(missing)}` "
              "to the recipe so every swift command gets --external_plugins", file=sys.stderr)
