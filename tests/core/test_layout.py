"""The package layout's rules, read from the source with ast (nothing is executed; only the family registry is
imported, for the names it owns): imports point one way with no circle, heavy libraries load only inside
functions, stage names and run-directory paths each come from one module, a family's ms-swift and model-type names
from its own module."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

PACKAGE = REPO / "swiftplus"
# commands -> rehearse -> pipeline -> doctor -> step packages -> recipe -> core. A module may import its own package
# or a lower rank.
RANKS = {"core": 0, "plugins": 0, "recipe": 1, "fixtures": 1, "data": 2, "graft": 2, "train": 3, "export": 4,
         "serve": 4, "evaluate": 5, "doctor": 6, "pipeline": 7, "rehearse": 8, "commands": 9, "cli": 10, "__main__": 11,
         "__init__": 0}
HEAVY = ("torch", "swift", "evalscope", "transformers", "vllm", "deepspeed", "peft", "accelerate", "modelscope",
         "datasets", "matplotlib", "numpy", "safetensors")
STAGE_ONLY = {"graft", "stage1", "stage2", "lora"}


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


MODULES = modules()


def imports(name: str, path: Path, *, top_level_only: bool = False) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file; relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                pkg = parts if path.name == "__init__.py" else parts[:-1]
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            found += [(base, node.lineno)] + [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return found


def internal(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def graph() -> dict[str, set[str]]:
    edges = {}
    for name, path in MODULES.items():
        deps = set()
        for target, _ in imports(name, path):
            t = internal(target)
            if t and t != name and not name.startswith(t + "."):  # a module may use its own package's __init__
                deps.add(t)
        edges[name] = deps
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_among_swiftplus_modules():
    assert cycles(graph()) == []


def test_imports_point_one_way():
    wrong = []
    for name, deps in graph().items():
        mine = package_of(name)
        for dep in deps:
            theirs = package_of(dep)
            if theirs != mine and RANKS[theirs] >= RANKS[mine]:
                wrong.append(f"{name} imports {dep} ({mine} may import only lower layers)")
    assert wrong == []


def test_heavy_libraries_are_imported_only_inside_functions():
    # fixtures build tiny models (torch is what they are about); plugins run inside swift's own process
    found = [f"{path.relative_to(REPO)}:{line}: {target}" for name, path in MODULES.items()
             if not name.startswith(("swiftplus.fixtures", "swiftplus.plugins."))
             for target, line in imports(name, path, top_level_only=True) if target.split(".")[0] in HEAVY]
    assert found == []


def test_stage_names_are_spelled_out_only_in_core_stages():
    found = []
    for name, path in MODULES.items():
        if name == "swiftplus.core.stages":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                values = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if len(values & STAGE_ONLY) >= 2:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {sorted(values & STAGE_ONLY)}")
            elif isinstance(node, ast.Constant) and node.value in ("stage1", "stage2"):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert found == []


def test_run_directory_paths_come_from_core_runs():
    """Only core/runs.py joins paths onto a recipe's run directory."""
    found = []
    for name, path in MODULES.items():
        if name == "swiftplus.core.runs":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            call = node.func if isinstance(node, ast.Call) else None
            if call is not None and getattr(call, "attr", getattr(call, "id", None)) in ("run_root", "run_path"):
                if name != "swiftplus.recipe.schema":  # where run_dir's default is defined
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert found == []


# Training is one step among the others: what serving, export and evaluation need of a stage's checkpoint lives
# below the steps (core/lineage.py, core/checkpoints.py), so none of them, and nothing below them, imports train/.
NOT_ABOVE_TRAIN = {pkg for pkg, rank in RANKS.items() if rank < RANKS["train"]} | {"export", "serve", "evaluate"}


def train_importers(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{name} imports {dep}" for name, deps in edges.items() for dep in deps
                  if package_of(dep) == "train" and package_of(name) in NOT_ABOVE_TRAIN)


def test_the_train_rule_finds_a_planted_import():
    planted = {"swiftplus.serve.command": {"swiftplus.train.state"}, "swiftplus.pipeline.plan": {"swiftplus.train.run"}}
    assert train_importers(planted) == ["swiftplus.serve.command imports swiftplus.train.state"]


def test_no_sibling_step_and_nothing_below_the_steps_imports_train():
    assert train_importers(graph()) == []


# Modules that may spell a family's names, and why. Everything else asks the family (swiftplus.graft.families).
SPELL_FAMILY_NAMES = {
    "swiftplus.graft.families": "the families themselves: each module is the one owner of its names",
    "swiftplus.plugins": "ms-swift plugins register these model types and templates, and ms-swift (and transformers, "
                         "for the model they define) look them up by name",
    "swiftplus.fixtures": "fixtures mirror hub checkpoints on disk, and config.json's model_type is part of that "
                          "format (their own fixture names, siglip and clip, are names of files, not families)",
    "swiftplus.doctor.known_models": "the hub configs' own numbers, as the hub writes them (data, like a fixture)",
    "swiftplus.data.budget": "how ms-swift's templates expand images, keyed by ms-swift's template names: its own and "
                             "the plugins', including templates no family owns (qwen3_5, idefics3); data/ sits beside "
                             "graft/ and cannot ask it, and a template without a rule is simply not budgeted",
    "swiftplus.graft.vllm_names": "vLLM's LLaVA loader table, keyed by the tower config model types as vLLM's "
                                  "source spells them",
}


def family_names() -> set[str]:
    """Every registered family's ms-swift model types and templates, and the template model_types it takes."""
    from swiftplus.graft.families import FAMILIES

    names = set()
    for family in FAMILIES:
        names |= {*family.swift_types(), family.swift_template, *family.template_model_types}
    return names - {""}


def spelt(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, literal) for each string literal in `source` that is one of `names`."""
    return [(node.lineno, node.value) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names]


def test_the_literal_finder_finds_a_planted_family_name():
    names = family_names()
    assert {"qwen2_5_vl", "smolvlm_qwen3", "llava_llama3", "siglip"} <= names
    planted = 'TABLE = {"qwen3_vl": 1}\ndef f(t):\n    return t == "smolvlm_qwen3" or f"{t}_qwen3"\n'
    assert spelt(planted, names) == [(1, "qwen3_vl"), (3, "smolvlm_qwen3")]


def test_only_a_family_spells_its_model_type_and_template_names():
    """A module that needs a family's ms-swift model type, template or template model_type asks the family
    (swiftplus.graft.families, or core.families below graft/); SPELL_FAMILY_NAMES lists who may spell them, and why.
    A literal equal to a name counts; prose that mentions one (docstrings, messages) does not."""
    names = family_names()
    found = [f"{path.relative_to(REPO)}:{line}: {value!r}" for name, path in MODULES.items()
             if not any(name == owner or name.startswith(owner + ".") for owner in SPELL_FAMILY_NAMES)
             for line, value in spelt(path.read_text(encoding="utf-8"), names)]
    assert found == []
