"""Verbs that only read: validate, plan, ls, cp."""
from __future__ import annotations

from pathlib import Path

from swiftplus.core import stages
from swiftplus.core.errors import UserError
from swiftplus.pipeline.plan import as_json, plan, render
from swiftplus.recipe.load import find_recipe, load_recipe, shipped_recipes


def validate(args) -> int:
    loaded = load_recipe(args.recipe, args.overrides)
    present = stages.present(loaded.recipe)
    print(f"{loaded.path}: ok ({', '.join(present) or 'no stages'})")
    return 0


def show_plan(args) -> int:
    loaded = load_recipe(args.recipe, args.overrides)
    wanted = [stages.ALIASES.get(s, s) for s in args.stage] if args.stage else None
    steps = plan(loaded, wanted)
    if args.json:
        print(as_json(steps))
    else:
        print(f"# plan for {loaded.path} (nothing is run)\n")
        print(render(steps))
    return 0


def header(path: Path) -> str:
    """The first line of a recipe's comment header: what it builds."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip()
            if text:
                return text
        elif line.strip():
            break
    return ""


def list_recipes(args) -> int:
    recipes = shipped_recipes()
    width = max((len(n) for n in recipes), default=0)
    for name, path in recipes.items():
        print(f"{name:<{width}}  {header(path)}")
    return 0


def copy_recipe(args) -> int:
    src = find_recipe(args.recipe)
    dest = Path(args.dest)
    if dest.suffix not in (".yaml", ".yml"):
        dest = Path("recipes") / f"{args.dest}.yaml"
    if dest.exists():
        raise UserError(f"{dest} already exists; choose another name or delete it first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    text = src.read_text(encoding="utf-8")
    tmp.write_text(f"# forked from {src.stem}; edit freely\n{text}", encoding="utf-8")
    tmp.replace(dest)
    print(f"wrote {dest} (from {src}); try: swiftplus validate {dest}")
    return 0
