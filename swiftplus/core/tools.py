"""What the installed ms-swift and EvalScope accept: their versions, and the flags of their argument
classes, read from source without importing them.

ms-swift renames flags between releases, so the truth is the installed version's argument dataclasses,
and a version outside the tested range fails at start with the remedy, not forty flags later after the
model loaded.
Importing ms-swift pulls in torch and takes seconds; parsing the few source files that define its
argument classes takes milliseconds, keeps `validate` and `plan` instant, and is cached per version.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import platform
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from swiftplus import __version__
from swiftplus.core.errors import UserError

# What each generated command parses its argv into: (module, class).
TARGETS: dict[str, tuple[str, str]] = {
    "sft": ("swift.arguments.sft_args", "SftArguments"),
    "deploy": ("swift.arguments.deploy_args", "DeployArguments"),
    "export": ("swift.arguments.export_args", "ExportArguments"),
    "infer": ("swift.arguments.infer_args", "InferArguments"),
    "evalscope": ("evalscope.config", "TaskConfig"),
}


@dataclass(frozen=True)
class Field:
    name: str
    choices: tuple[str, ...] | None  # the values of a Literal[...] annotation, when it has one
    scalar: str | None = None  # "int", "float" or "bool" when annotated as exactly that (or Optional of it)


class FlagsUnavailable(Exception):
    """The tool is not installed or its argument classes could not be found."""


def module_file(module: str) -> Path | None:
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)  # a top-level lookup does not execute the package
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _resolve_relative(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    keep = len(parts) - node.level + (1 if is_package else 0)
    base = parts[:keep]
    return ".".join(base + ([node.module] if node.module else []))


@lru_cache(maxsize=None)
def parse_source(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _unwrap_optional(annotation: ast.expr | None) -> ast.expr | None:
    """X for Optional[X], Union[X, None] and X | None; None for a union of several types."""
    node = annotation
    if isinstance(node, ast.Subscript) and _name(node.value) in ("Optional", "Union"):
        members = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        members = [node.left, node.right]
    else:
        return node
    members = [m for m in members if not (isinstance(m, ast.Constant) and m.value is None)]
    return members[0] if len(members) == 1 else None


def _literal_choices(annotation: ast.expr | None) -> tuple[str, ...] | None:
    """Literal['a', 'b'] or Optional[Literal[...]] -> ('a', 'b'); anything wider accepts free values."""
    node = _unwrap_optional(annotation)
    if isinstance(node, ast.Subscript) and _name(node.value) == "Literal":
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        values = [e.value for e in elts if isinstance(e, ast.Constant)]
        if values and len(values) == len(elts):
            return tuple(str(v) for v in values)
    return None


def _scalar(annotation: ast.expr | None) -> str | None:
    """int / float / bool, or Optional[...] of one; a Union with anything else accepts free values."""
    node = _unwrap_optional(annotation)
    name = _name(node) if isinstance(node, ast.Name) else None
    return name if name in ("int", "float", "bool") else None


def _name(node: ast.expr) -> str:
    return getattr(node, "id", getattr(node, "attr", ""))


def _find_class(module: str, name: str, depth: int = 0):
    """Locate `class name` defined in or re-exported by `module`; returns (module, ClassDef)."""
    if depth > 12:
        return None
    path = module_file(module)
    if path is None:
        return None
    tree = parse_source(path)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return module, node
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):  # re-exports may sit under `if TYPE_CHECKING:`
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    found = _find_class(_resolve_relative(module, is_package, node), alias.name, depth + 1)
                    if found:
                        return found
    return None


def _class_fields(module: str, name: str, seen: set | None = None) -> dict[str, Field]:
    seen = set() if seen is None else seen
    found = _find_class(module, name)
    if found is None or (found[0], name) in seen:
        return {}
    defining_module, cls = found
    seen.add((defining_module, name))
    fields: dict[str, Field] = {}
    for base in reversed(cls.bases):  # later bases are overridden by earlier ones, as in the MRO
        base_name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
        if base_name:
            fields.update(_class_fields(defining_module, base_name, seen))
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if "ClassVar" in ast.dump(stmt.annotation) or stmt.target.id.startswith("_"):
                continue
            fields[stmt.target.id] = Field(stmt.target.id, _literal_choices(stmt.annotation),
                                           _scalar(stmt.annotation))
    return fields


def _version(package: str) -> str:
    for dist in (package, {"swift": "ms-swift"}.get(package, package)):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "unknown"


def _cache_path(target: str) -> Path | None:
    module, _ = TARGETS[target]
    top = module.split(".")[0]
    path = module_file(module)
    if path is None:
        return None
    stamp = f"v3:{target}:{_version(top)}:{path}:{path.stat().st_mtime_ns}:{_version('transformers')}"
    digest = hashlib.sha1(stamp.encode()).hexdigest()[:16]
    root = Path(os.environ.get("SWIFTPLUS_CACHE", Path.home() / ".cache" / "swiftplus"))
    return root / "flags" / f"{target}-{digest}.json"


@lru_cache(maxsize=None)
def fields_for(target: str) -> dict[str, Field]:
    """All flags `target` accepts (see TARGETS), with Literal choices where declared."""
    module, cls = TARGETS[target]
    cache = _cache_path(target)
    if cache is not None and cache.is_file():
        raw = json.loads(cache.read_text())
        return {k: Field(k, tuple(v["choices"]) if v["choices"] else None, v["scalar"]) for k, v in raw.items()}
    fields = _class_fields(module, cls)
    if not fields:
        top = module.split(".")[0]
        raise FlagsUnavailable(f"cannot read {cls} from the installed {top}: is it installed in this environment?")
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({k: {"choices": list(f.choices) if f.choices else None, "scalar": f.scalar}
                                       for k, f in fields.items()}))
            tmp.replace(cache)
        except OSError:
            pass  # a read-only home only costs the parse next time
    return fields


# --- versions ------------------------------------------------------------------------------------

# Keep in step with pyproject.toml's `ms-swift>=4.6,<4.7` (a test checks they agree).
SWIFT_RANGE = ">=4.6,<4.7"
RECORDED = ("swiftplus", "ms-swift", "transformers", "torch", "torchvision", "peft", "accelerate", "deepspeed",
            "flash-attn", "safetensors", "datasets", "qwen-vl-utils")


def installed(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def check_swift_version(found: str | None = None, allowed: str = SWIFT_RANGE) -> str:
    """The installed ms-swift version, or one clear error when it is missing or outside the tested range."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    found = installed("ms-swift") if found is None else found
    if found is None:
        raise UserError(f"ms-swift is not installed in this environment ({_python()}); "
                        f"run `make install` or `pip install 'ms-swift{allowed}'`")
    try:
        ok = Version(found) in SpecifierSet(allowed, prereleases=True)
    except InvalidVersion:
        ok = False
    if not ok:
        raise UserError(f"ms-swift {found} is installed, but swiftplus is tested with ms-swift{allowed} "
                        f"(ms-swift renames flags between minor releases). "
                        f"Install a tested release: pip install 'ms-swift{allowed}'")
    return found


def _python() -> str:
    return sys.executable


def versions() -> dict[str, str | None]:
    """What a run directory records: python and the packages that decide how training behaves."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in RECORDED:
        out[dist] = installed(dist)
    if out["swiftplus"] is None:  # run from a checkout (PYTHONPATH), not installed
        out["swiftplus"] = __version__
    return out
