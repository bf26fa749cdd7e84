"""Checks that need more than the schema: tool flags against the installed versions, and stage wiring."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from swiftplus.core import stages
from swiftplus.core.tools import FlagsUnavailable, fields_for
from swiftplus.plugins import PLUGINS_DIR, available_plugins
from swiftplus.recipe.schema import DeploySection, EvalSection, ExportSection, Recipe, TrainSection


@dataclass
class Problem:
    path: tuple  # YAML path of the offending key, () for the whole document
    message: str
    source: str | None = None  # file the key came from, or "--set ..." for an override


# Flags renamed or retired between ms-swift releases: old name -> the installed name.
RENAMED = {
    "train_type": "tuner_type",
    "sft_type": "tuner_type",
    "model_id_or_path": "model",
    "model_cache_dir": "cache_dir",
    "ckpt_dir": "adapters",
    "lora_target_modules": "target_modules",
}
RENAMED_VALUES = {("infer_backend", "pt"): "transformers"}

# Flags swiftplus sets itself from the recipe's structure; setting them by hand would break the chain.
MANAGED = {
    "sft": {"model": "use the stage's init:", "output_dir": "each stage writes to its run directory",
            "resume_from_checkpoint": "use `swiftplus train --resume`",
            "add_version": "stage outputs stay unversioned so the next stage and --resume find them"},
    "deploy": {"model": "use deploy.from", "adapters": "use deploy.from: lora", "ckpt_dir": "use deploy.from"},
    "export": {"model": "use export.from", "adapters": "use export.from", "output_dir": "export writes to its run directory"},
    "evalscope": {"model": "the served model is used", "api_url": "the endpoint is started by swiftplus",
                  "datasets": "use eval.benchmarks / eval.local", "work_dir": "eval writes to its run directory",
                  "eval_type": "always openai_api against the endpoint"},
}
TOOL_NAMES = {"sft": "ms-swift `swift sft`", "deploy": "ms-swift `swift deploy`",
              "export": "ms-swift `swift export`", "evalscope": "EvalScope TaskConfig"}


def suggest(name: str, known) -> str:
    if name in RENAMED and RENAMED[name] in known:
        return f"; did you mean {RENAMED[name]}? ({name} was renamed)"
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""


def check_tool_flags(target: str, flags: dict, prefix: tuple) -> list[Problem]:
    try:
        known = fields_for(target)
    except FlagsUnavailable as e:
        return [Problem(prefix, str(e))]
    problems = []
    for name, value in flags.items():
        path = (*prefix, name)
        if not isinstance(name, str):
            continue  # the schema reports it ("Keys should be strings")
        if name in MANAGED.get(target, {}):
            problems.append(Problem(path, f"is set by swiftplus ({MANAGED[target][name]})"))
        elif name not in known:
            problems.append(Problem(path, f"unknown {TOOL_NAMES[target]} flag{suggest(name, known)}"))
        elif (name, str(value)) in RENAMED_VALUES:
            problems.append(Problem(path, f"'{value}' was renamed; use {RENAMED_VALUES[(name, str(value))]}"))
        elif known[name].choices and isinstance(value, str) and value not in known[name].choices:
            problems.append(Problem(path, f"must be one of {', '.join(known[name].choices)} (got {value!r})"))
        elif value is not None and not _fits(known[name].scalar, value):
            problems.append(Problem(path, f"must be {SCALAR_WORDS[known[name].scalar]} (got {value!r})"))
    return problems


SCALAR_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false"}


def _fits(scalar: str | None, value) -> bool:
    """Would the tool's argument parser take this value for a field annotated `scalar`? Strings are parsed
    as the parser will (YAML reads 5e-6 as a string)."""
    if scalar is None:
        return True
    if isinstance(value, bool):
        return scalar == "bool"
    if scalar == "bool":  # transformers' string_to_bool
        return str(value).lower() in ("true", "false", "yes", "no", "t", "f", "y", "n", "1", "0")
    if scalar == "int" and isinstance(value, float):
        return False  # rendered as "8192.0", which int() refuses
    if isinstance(value, (int, float)):
        return True
    try:
        (int if scalar == "int" else float)(value)
    except (TypeError, ValueError):
        return False
    return True


def _check_common_swift(common: dict) -> list[Problem]:
    problems = []
    for name, value in common.items():
        for target in ("sft", "deploy", "export"):
            found = check_tool_flags(target, {name: value}, ("swift",))
            if found:
                if target != "sft" and not check_tool_flags("sft", {name: value}, ("swift",)):
                    found = [Problem(("swift", name), f"is not a {TOOL_NAMES[target]} flag; put it under the stage that uses it")]
                problems += found
                break
    return problems


# Which tool reads the extra keys of each recipe section.
SECTION_TOOLS = {**{stage: ("sft", TrainSection) for stage in stages.TRAIN}, stages.DEPLOY: ("deploy", DeploySection),
                 stages.EXPORT: ("export", ExportSection), stages.EVAL: ("evalscope", EvalSection)}


def _own_keys(model) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()} | set(model.model_fields)


def _serving_flags(graft) -> list[tuple[tuple, dict]]:
    """(path, flags) of the ms-swift flags a graft section carries for serving its donor and hosts."""
    if not isinstance(graft, dict):
        return []
    found = [(("graft", "donor_swift"), graft.get("donor_swift"))]
    hosts = graft.get("hosts") if isinstance(graft.get("hosts"), list) else []
    found += [(("graft", "hosts", i, "swift"), h.get("swift")) for i, h in enumerate(hosts) if isinstance(h, dict)]
    return [(path, flags) for path, flags in found if isinstance(flags, dict)]


def check_flags_raw(data: dict) -> list[Problem]:
    """Tool flags are checked on the raw mapping, so they are reported even when the schema fails too."""
    problems = []
    if isinstance(data.get("swift"), dict):
        problems += _check_common_swift(data["swift"])
    for path, flags in _serving_flags(data.get("graft")):
        problems += check_tool_flags("deploy", flags, path)
    for section, (target, model) in SECTION_TOOLS.items():
        raw = data.get(section)
        if isinstance(raw, dict):
            extras = {k: v for k, v in raw.items() if k not in _own_keys(model)}
            problems += check_tool_flags(target, extras, (section,))
    return problems


def _check_wiring(recipe: Recipe) -> list[Problem]:
    problems = []
    if recipe.stage1 is not None and recipe.stage1.init is None and recipe.graft is None:
        problems.append(Problem((stages.STAGE1,), "has nothing to start from: add a graft section or set stage1.init"))
    if recipe.stage2 is not None and recipe.stage2.init is None and recipe.stage1 is None:
        problems.append(Problem((stages.STAGE2,), "has neither a stage1 section nor an init checkpoint: add stage1 or set stage2.init"))
    if recipe.lora is not None and recipe.lora.init is None and not (recipe.stage2 or recipe.stage1 or recipe.graft):
        problems.append(Problem((stages.LORA,), "has nothing to start from: set lora.init to a model or checkpoint"))
    for name in stages.TRAIN:
        section = getattr(recipe, name)
        if section is None:
            continue
        # `best` is stage 1's best checkpoint
        started_from = stages.STAGE1 if section.init == "best" else section.init
        if started_from in stages.INIT_ORDER and getattr(recipe, started_from) is None:
            problems.append(Problem((name, "init"), f"refers to {section.init}, but the recipe has no such section"))
        if started_from in stages.INIT_ORDER and started_from not in stages.earlier(name):
            what = "itself" if started_from == name else f"{started_from}, which runs after it"
            problems.append(Problem((name, "init"), f"{section.init} makes {name} start from {what}; a stage starts "
                                                    f"from an earlier one ({', '.join(stages.earlier(name))}) "
                                                    f"or a model path"))
    if recipe.deploy is not None:
        src = recipe.deploy.from_
        if src in stages.SOURCES and getattr(recipe, src) is None:
            problems.append(Problem((stages.DEPLOY, "from"), f"refers to {src}, but the recipe has no {src} section"))
    trains = [s for s in (recipe.stage1, recipe.stage2, recipe.lora) if s is not None]
    for key in ("model_type", "template"):
        if trains and key not in recipe.swift and any(key not in s.flags for s in trains):
            problems.append(Problem(("swift", key), "is required: a local checkpoint needs both model_type and template"))
    for i, name in enumerate(recipe.plugins):
        if not (PLUGINS_DIR / f"{name}.py").is_file():
            have = ", ".join(available_plugins()) or "none"
            problems.append(Problem(("plugins", i), f"no plugin '{name}' in swiftplus/plugins (available: {have})"))
    return problems


def _check_sources(recipe: Recipe) -> list[Problem]:
    """What deploy.from, eval.compare and each benchmark's `sources` name must exist, each compared checkpoint
    is asked something, and the donor (an LLM without eyes) only what the recipe says it is asked."""
    named = stages.named_sources(recipe)
    wanted = [] if recipe.deploy is None else [((stages.DEPLOY, "from"), recipe.deploy.from_)]
    problems = []
    if recipe.eval is not None:
        ev = recipe.eval
        sets = [(("eval", "benchmarks", i), b) for i, b in enumerate(ev.benchmarks) if not isinstance(b, str)]
        sets += [(("eval", "local", i), local) for i, local in enumerate(ev.local)]
        bare = [path for path, entry in sets if not entry.sources]
        bare += [("eval", "benchmarks", i) for i, b in enumerate(ev.benchmarks) if isinstance(b, str)]
        wanted += [(("eval", "compare", i), s) for i, s in enumerate(ev.compare)]
        for path, entry in sets:
            problems += [Problem((*path, "sources", i), f"'{s}' is not a checkpoint of this recipe (it has: "
                                                        f"{', '.join(named) or 'none'})")
                         for i, s in enumerate(entry.sources) if s not in named]
        if stages.DONOR in ev.compare:
            problems += [Problem(path, "needs `sources`: eval.compare has donor, the LLM alone, which reads no "
                                       "images; list the checkpoints this set is asked of") for path in bare]
        for i, source in enumerate(ev.compare):
            if source in named and not bare and not any(source in entry.sources for _, entry in sets):
                problems.append(Problem(("eval", "compare", i), f"{source} is asked no benchmark: add it to the "
                                                                "sources of one"))
    for path, source in wanted:
        if (source == stages.DONOR or source.startswith(stages.HOST_PREFIX)) and source not in named:
            hosts = ", ".join(h.name for h in recipe.graft.hosts) if recipe.graft else ""
            problems.append(Problem(path, f"refers to {source}, but the recipe has no graft section" if not recipe.graft
                                    else f"refers to {source}, but graft.hosts names only {hosts or 'none'}"))
    if recipe.graft is not None and not recipe.graft.donor_swift and any(s == stages.DONOR for _, s in wanted):
        problems.append(Problem(("graft", "donor_swift"), "is needed to serve the donor alone: its ms-swift model_type "
                                                          "and template, e.g. {model_type: qwen3, template: qwen3}"))
    return problems


def check_recipe(recipe: Recipe | None, data: dict, *, check_flags: bool = True) -> list[Problem]:
    """Stage wiring (needs a schema-valid recipe) and tool flags (checked on the raw mapping)."""
    problems = _check_wiring(recipe) + _check_sources(recipe) if recipe is not None else []
    if check_flags:
        problems += check_flags_raw(data)
    return problems
