"""Load a recipe: find the file, follow `base:`, apply `key.path=value` overrides, validate everything.

Every problem is collected and reported at once, each with its file, line and YAML path, so a user
fixes a recipe in one pass instead of one error per run.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from swiftplus.core.errors import UserError
from swiftplus.recipe.bounded_yaml import parse
from swiftplus.recipe.check import Problem, check_flags_raw
from swiftplus.recipe.schema import Recipe
from swiftplus.recipe.wiring import check_wiring

REPO_RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@dataclass
class LoadedRecipe:
    recipe: Recipe
    path: Path
    data: dict  # merged mapping after inheritance and overrides: what the run directory records
    files: list[Path] = field(default_factory=list)


def recipe_dirs() -> list[Path]:
    dirs = [Path.cwd() / "recipes", REPO_RECIPES]
    return [d for i, d in enumerate(dirs) if d.is_dir() and d.resolve() not in [x.resolve() for x in dirs[:i]]]


def shipped_recipes() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in reversed(recipe_dirs()):
        for p in sorted(d.glob("*.yaml")):
            found[p.stem] = p
    return dict(sorted(found.items()))


def find_recipe(ref: str, relative_to: Path | None = None) -> Path:
    """RECIPE=name means recipes/name.yaml; a path works too."""
    candidates = [Path(ref)]
    if relative_to is not None:
        candidates.insert(0, relative_to / ref)
        candidates.insert(1, relative_to / f"{ref}.yaml")
    candidates += [d / f"{ref}.yaml" for d in recipe_dirs()] + [d / ref for d in recipe_dirs()]
    for c in candidates:
        if c.is_file():
            return c
    names = ", ".join(shipped_recipes()) or "none"
    raise UserError(f"recipe '{ref}' not found: give a path to a .yaml file or one of the shipped recipes ({names})")


def _read_yaml(path: Path, problems: list[Problem]) -> tuple[Any, dict]:
    """Parse a file; returns (data, {yaml path tuple: line number}). A key given twice in one mapping is a
    problem: YAML would silently keep the last one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"{path}: cannot read the recipe ({e.strerror})") from None
    try:
        data, node = parse(text, str(path))  # refuses an alias bomb before anything below walks it
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise UserError(f"{where}: YAML syntax error: {problem}. Fix the YAML at that position.") from None
    lines: dict[tuple, int] = {}

    def walk(n, prefix):
        if isinstance(n, yaml.MappingNode):
            first: dict = {}
            for k, v in n.value:
                if not isinstance(k, yaml.ScalarNode):
                    continue  # a mapping or list as a key: the schema reports it
                key = (*prefix, k.value)
                line = k.start_mark.line + 1
                if k.value in first and k.value != "<<":  # merge keys (<<: *anchor) may repeat legitimately
                    problems.append(Problem(key, f"is given twice (lines {first[k.value]} and {line}); YAML would "
                                                 "keep only the last one silently. Remove one of them",
                                            f"{path}:{line}"))
                first.setdefault(k.value, line)
                lines[key] = line
                walk(v, key)
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, (*prefix, i))

    if node is not None:
        walk(node, ())
    return data, lines


def deep_merge(base: dict, child: dict) -> dict:
    """Child wins; mappings merge recursively; lists and scalars replace."""
    out = copy.deepcopy(base)
    for k, v in child.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _load_chain(path: Path, problems: list[Problem], seen: tuple[Path, ...] = ()):
    """Returns (merged data, [(file, lines)]) for `path` and its bases, base first."""
    data, lines = _read_yaml(path, problems)
    if data is None:
        raise UserError(f"{path}: the recipe is empty; it must be a YAML mapping (graft:, stage1:, ...)")
    if not isinstance(data, dict):
        kind = type(data).__name__.replace("str", "a string").replace("list", "a list")
        raise UserError(f"{path}: the recipe is {kind}; it must be a YAML mapping of sections (graft:, stage1:, ...)")
    origins = [(path, lines)]
    base_ref = data.get("base")
    if base_ref is None:
        return data, origins
    if not isinstance(base_ref, str):
        problems.append(Problem(("base",), "must be the name or path of another recipe", str(path)))
        return data, origins
    base_path = find_recipe(base_ref, relative_to=path.parent)
    if base_path.resolve() in [p.resolve() for p in (*seen, path)]:
        raise UserError(f"{path}: base '{base_ref}' makes an inheritance cycle")
    base_data, base_origins = _load_chain(base_path, problems, (*seen, path))
    base_data.pop("name", None)  # a child is its own recipe, named after its file unless it says otherwise
    child = {k: v for k, v in data.items() if k != "base"}
    merged = deep_merge(base_data, child)
    merged["base"] = base_ref
    return merged, origins + base_origins


def apply_override(data: dict, expr: str, problems: list[Problem]) -> None:
    """`stage1.learning_rate=2e-5`: the value is parsed as YAML (numbers, booleans, lists)."""
    where = f"--set {expr}"
    key, sep, raw = expr.partition("=")
    parts = key.strip().split(".")
    if not sep or not key.strip() or any(not p for p in parts):
        problems.append(Problem((), "an override must look like section.key=value (e.g. stage1.learning_rate=2e-5)", where))
        return
    try:
        value = parse(raw, where, lines=False)[0] if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    node = data
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            problems.append(Problem(tuple(parts[: i + 1]), f"is a {type(nxt).__name__}, not a section; cannot set '{key}'", where))
            return
        node = nxt
    node[parts[-1]] = value


def _pydantic_problems(err: ValidationError) -> list[Problem]:
    out = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x in {"str", "DatasetEntry", "BenchmarkEntry"}))
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "is required"
        else:
            msg = e["msg"]
            if "input" in e and not isinstance(e["input"], (dict, list)):
                msg += f" (got {e['input']!r})"
        out.append(Problem(loc, msg))
    return out


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        key = (p.path, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def format_problems(problems: list[Problem], origins: list[tuple[Path, dict]], main: Path) -> str:
    rows = []
    for p in _dedupe(problems):
        where = p.source
        if where is None:
            where = str(main)
            for path, lines in origins:
                probe = p.path
                while probe and probe not in lines:
                    probe = probe[:-1]
                if probe:
                    where = f"{path}:{lines[probe]}"
                    break
        dotted = ".".join(str(x) for x in p.path) or "(top level)"
        rows.append(f"  {where}: {dotted}: {p.message}")
    n = len(rows)
    head = f"recipe {main} has {n} problem{'s' if n != 1 else ''}:"
    return "\n".join([head, *rows, "Fix them and run `swiftplus validate` again."])


def load_recipe(ref: str, overrides: list[str] | tuple[str, ...] = (), *, check_flags: bool = True) -> LoadedRecipe:
    path = find_recipe(ref)
    problems: list[Problem] = []
    data, origins = _load_chain(path, problems)
    data = copy.deepcopy(data)
    data.setdefault("name", path.stem)
    for expr in overrides:
        apply_override(data, expr, problems)
    recipe = None
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as err:
        problems += _pydantic_problems(err)
    if recipe is not None:  # wiring needs a schema-valid recipe; tool flags are checked on the raw mapping
        problems += check_wiring(recipe)
    if check_flags:
        problems += check_flags_raw(data)
    if problems:
        raise UserError(format_problems(problems, origins, path))
    recipe._ref = ref
    return LoadedRecipe(recipe=recipe, path=path, data=data, files=[p for p, _ in origins])
