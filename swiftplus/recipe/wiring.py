"""Checks across a recipe's sections: where each stage starts, what deploy / export / eval name, whether
evaluation settings can take effect, and whether the chosen server can load the model family.

Every value that must name a stage is checked against core.stages; a value that is not a stage must be a
path that exists (or, for init, a hub id), so a typo fails here instead of hours later.
"""
from __future__ import annotations

import difflib
from pathlib import Path

from swiftplus.core import families, stages
from swiftplus.core.errors import UserError
from swiftplus.core.hub import is_hub_id
from swiftplus.core.lineage import init_source
from swiftplus.plugins import PLUGINS_DIR, available_plugins
from swiftplus.recipe.check import Problem
from swiftplus.recipe.flags import is_false, stage_flags
from swiftplus.recipe.schema import Recipe

# the files EvalScope's general_vmcq / general_vqa read (evaluate/local_sets.py finds them in a directory)
EVAL_SET_EXTENSIONS = (".jsonl", ".csv", ".tsv", ".parquet")
EVAL_FLAGS = ("eval_steps", "eval_strategy", "metric_for_best_model", "load_best_model_at_end")


def _looks_like_path(value: str) -> bool:
    return value.startswith((".", "/", "~")) or Path(value).expanduser().exists()


def _not_a_stage(value: str, allowed: tuple[str, ...], what: str) -> str:
    close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"{value!r} is neither {what} ({', '.join(allowed)}) nor an existing path{hint}"


def _source_problem(recipe: Recipe, value: str, allowed: tuple[str, ...]) -> str | None:
    """A stage the recipe has, or an existing checkpoint directory (the donor and graft-NAME: _sources_problems)."""
    if value == stages.DONOR or value.startswith(stages.HOST_PREFIX):
        return None
    if value in allowed:
        return None if getattr(recipe, value) is not None else f"refers to {value}, but the recipe has no {value} section"
    if value in stages.ORDER:
        return f"{value} cannot be used here; use one of {', '.join(allowed)} or a path"
    if _looks_like_path(value):
        return None if Path(value).expanduser().is_dir() else f"{value}: no such directory"
    return _not_a_stage(value, allowed, "a stage")


def _init_problems(recipe: Recipe) -> list[Problem]:
    problems = []
    if recipe.stage1 is not None and recipe.stage1.init is None and recipe.graft is None:
        problems.append(Problem((stages.STAGE1,), "has nothing to start from: add a graft section or set stage1.init"))
    if recipe.stage2 is not None and recipe.stage2.init is None and recipe.stage1 is None:
        problems.append(Problem((stages.STAGE2,), "has neither a stage1 section nor an init checkpoint: add stage1 or "
                                                  "set stage2.init"))
    if recipe.lora is not None and recipe.lora.init is None and not (recipe.stage2 or recipe.stage1 or recipe.graft):
        problems.append(Problem((stages.LORA,), "has nothing to start from: set lora.init to a model or checkpoint"))
    for name in stages.present(recipe, stages.TRAIN):
        init = getattr(recipe, name).init
        if init is None:
            continue
        started_from = stages.STAGE1 if init == "best" else init  # `best` is stage 1's best checkpoint
        if started_from in stages.INIT_ORDER:
            if getattr(recipe, started_from) is None:
                problems.append(Problem((name, "init"), f"refers to {init}, but the recipe has no such section"))
            if started_from not in stages.earlier(name):
                what = "itself" if started_from == name else f"{started_from}, which runs after it"
                problems.append(Problem((name, "init"), f"{init} makes {name} start from {what}; a stage starts "
                                                        f"from an earlier one ({', '.join(stages.earlier(name))}) "
                                                        f"or a model path"))
            elif init == "best" and recipe.stage1 is not None and not _evaluates(recipe, stages.STAGE1):
                problems.append(Problem((name, "init"), "best needs stage1 to evaluate (val_dataset or "
                                                        "split_dataset_ratio, with eval_steps); otherwise there is "
                                                        "no best checkpoint. Use init: stage1"))
        elif not _looks_like_path(init) and not is_hub_id(init):  # a path may exist only where training runs
            problems.append(Problem((name, "init"), _not_a_stage(init, stages.INIT_KEYWORDS, "a stage") +
                                    " or a hub id like Org/Name"))
    return problems


def _has_val(recipe: Recipe, stage: str) -> bool:
    """Whether a stage has validation data (val_dataset, or a positive split_dataset_ratio)."""
    split = stage_flags(recipe, stage).get("split_dataset_ratio")
    return bool(getattr(recipe, stage).val_dataset) or float(split or 0) > 0


def _evaluates(recipe: Recipe, stage: str) -> bool:
    """Whether ms-swift will evaluate: it turns evaluation off when a stage has no validation data."""
    strategy = stage_flags(recipe, stage).get("eval_strategy", "steps")
    return _has_val(recipe, stage) and not is_false(strategy)


def _eval_problems(recipe: Recipe) -> list[Problem]:
    problems = []
    for name in stages.present(recipe, stages.TRAIN):
        flags, section = stage_flags(recipe, name), getattr(recipe, name)
        steps = flags.get("eval_steps")
        if isinstance(steps, (int, float)) and not isinstance(steps, bool) and steps <= 0:
            problems.append(Problem((name, "eval_steps"), f"{steps} does not mean never: the Trainer still "
                                                          "evaluates once at the last step. To never evaluate, set "
                                                          "eval_strategy: no; otherwise give a positive step count"))
        asked = [k for k in EVAL_FLAGS if k in section.flags and section.flags[k] not in (None, False, "no")]
        if asked and not _has_val(recipe, name):
            problems.append(Problem((name, asked[0]), f"has no effect: {name} has no validation data (no "
                                                      "val_dataset, split_dataset_ratio 0), so ms-swift turns "
                                                      "evaluation off. Add val_dataset or split_dataset_ratio, "
                                                      f"or remove {', '.join(asked)}"))
    return problems


def _section_problems(recipe: Recipe) -> list[Problem]:
    problems = []
    if recipe.deploy is not None and recipe.deploy.from_ != "auto":
        why = _source_problem(recipe, recipe.deploy.from_, stages.SOURCES)
        if why:
            problems.append(Problem((stages.DEPLOY, "from"), why))
    if recipe.export is not None:
        why = _source_problem(recipe, recipe.export.from_, stages.TRAIN)
        if why:
            problems.append(Problem((stages.EXPORT, "from"), why))
    if recipe.eval is not None:
        for i, source in enumerate(recipe.eval.compare):
            why = _source_problem(recipe, source, stages.SOURCES)
            if why:
                problems.append(Problem((stages.EVAL, "compare", i), why))
    return problems


def _sources_problems(recipe: Recipe) -> list[Problem]:
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
            hosts = ", ".join(h.name for h in recipe.graft.also_into) if recipe.graft else ""
            problems.append(Problem(path, f"refers to {source}, but the recipe has no graft section" if not recipe.graft
                                    else f"refers to {source}, but graft.also_into names only {hosts or 'none'}"))
    if recipe.graft is not None and not recipe.graft.donor_swift and any(s == stages.DONOR for _, s in wanted):
        problems.append(Problem(("graft", "donor_swift"), "is needed to serve the donor alone: its ms-swift model_type "
                                                          "and template, e.g. {model_type: qwen3, template: qwen3}"))
    return problems


def _step_problems(recipe: Recipe) -> list[Problem]:
    """Settings that leave a step nothing to do: `run` would reach the step after training and stop there."""
    problems = []
    if recipe.export is not None and not recipe.export.merge_lora:
        problems.append(Problem((stages.EXPORT, "merge_lora"), "is false, so export has nothing to do (deploy.from: "
                                                               "lora serves the adapters directly): remove the "
                                                               "export section or set merge_lora: true"))
    ev = recipe.eval
    if ev is not None and not ev.benchmarks and not ev.local:
        problems.append(Problem((stages.EVAL,), "names no benchmark: add eval.benchmarks or eval.local, or remove "
                                                "the eval section"))
    for i, local in enumerate(ev.local if ev is not None else []):
        suffix = Path(local.path).suffix
        if suffix and suffix not in EVAL_SET_EXTENSIONS and not Path(local.path).expanduser().is_dir():
            problems.append(Problem((stages.EVAL, "local", i, "path"), f"{local.path}: EvalScope reads "
                                                                       f"{', '.join(EVAL_SET_EXTENSIONS)} files (or a "
                                                                       "directory of them)"))
    return problems


def _starts_from(recipe: Recipe, stage: str) -> str | None:
    try:
        return init_source(recipe, stage).stage
    except UserError:  # nothing to start from: _init_problems says so
        return None


def _save_problems(recipe: Recipe) -> list[Problem]:
    """A stage completes by handing on its final checkpoint (train/state.completion): one that never saves can
    only fail, after it has trained."""
    problems = []
    for name in stages.present(recipe, stages.TRAIN):
        value = stage_flags(recipe, name).get("save_strategy")
        if value is None or not is_false(value):
            continue
        after = [s for s in stages.present(recipe, stages.TRAIN) if s != name and _starts_from(recipe, s) == name] + ([stages.EXPORT] if recipe.export is not None
                                                          and recipe.export.from_ == name else [])
        chained = f"; {', '.join(after)} start(s) from it" if after else ""
        problems.append(Problem((name, "save_strategy"), f"no saves no checkpoint, so {name} could never hand one "
                                                         f"on{chained}: use steps (with save_steps) or epoch"))
    return problems


def _backend_problems(recipe: Recipe) -> list[Problem]:
    """A backend builds each architecture from its own registry: a family it cannot build fails only when served.
    The family of the recipe's ms-swift model type says which it cannot build, wherever the weights come from; the
    family the recipe's graft builds, which it cannot build yet, for the graft it serves."""
    deploy = recipe.deploy
    if deploy is None:
        return []
    backend = deploy.flags.get("infer_backend", recipe.swift.get("infer_backend"))
    where = (stages.DEPLOY, "infer_backend") if "infer_backend" in deploy.flags else ("swift", "infer_backend")
    model_type = deploy.flags.get("model_type") or recipe.swift.get("model_type")
    family = families.by_swift_type(model_type)
    why = family.serving.refused.get(backend) if family is not None else None
    if why:
        return [Problem(where, f"{backend} cannot serve model_type {model_type}: {why}")]
    serves_the_graft = deploy.from_ in (*stages.SOURCES, "auto")
    built = families.grafted_by(recipe.graft.host, recipe.graft.family) if recipe.graft is not None else None
    why = built.serving.untested.get(backend) if built is not None and serves_the_graft else None
    if why:
        return [Problem(where, f"{backend} cannot serve this recipe's model yet: {why}")]
    return []


def check_wiring(recipe: Recipe) -> list[Problem]:
    problems = (_init_problems(recipe) + _section_problems(recipe) + _sources_problems(recipe) + _eval_problems(recipe)
                + _save_problems(recipe) + _step_problems(recipe) + _backend_problems(recipe))
    trains = [getattr(recipe, s) for s in stages.present(recipe, stages.TRAIN)]
    for key in ("model_type", "template"):
        if trains and key not in recipe.swift and any(key not in s.flags for s in trains):
            problems.append(Problem(("swift", key), "is required: a local checkpoint needs both model_type and template"))
    for i, name in enumerate(recipe.plugins):
        if not (PLUGINS_DIR / f"{name}.py").is_file():
            have = ", ".join(available_plugins()) or "none"
            problems.append(Problem(("plugins", i), f"no plugin '{name}' in swiftplus/plugins (available: {have})"))
    return problems
