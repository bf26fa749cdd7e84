"""Tool flags against the installed versions: names (with renames and suggestions), value types, and the
values ms-swift accepts (Literal choices, tuners, DeepSpeed presets, attention implementations)."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from swiftplus.core import stages
from swiftplus.core.choices import attn_impl_problem, deepspeed_problem, tuner_problem
from swiftplus.core.tools import FlagsUnavailable, fields_for
from swiftplus.recipe.schema import (
    DeploySection,
    EvalSection,
    ExportSection,
    TrainSection,
)


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
        elif value is not None and name in VALUE_CHECKS and (why := VALUE_CHECKS[name](value)):
            problems.append(Problem(path, why))
    return problems


# Free-string flags whose real value sets ms-swift (or transformers) defines elsewhere.
VALUE_CHECKS = {"tuner_type": tuner_problem, "deepspeed": deepspeed_problem, "attn_impl": attn_impl_problem}


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
    hosts = graft.get("also_into") if isinstance(graft.get("also_into"), list) else []
    found += [(("graft", "also_into", i, "swift"), h.get("swift")) for i, h in enumerate(hosts) if isinstance(h, dict)]
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
