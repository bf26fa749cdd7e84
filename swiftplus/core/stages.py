"""The one list of pipeline steps: their names, their order, what may start or serve from what.

Every other module asks here instead of spelling stage names out, so adding a step is one edit.
"""
from __future__ import annotations

from swiftplus.core.errors import UserError

GRAFT, STAGE1, STAGE2, LORA, EXPORT, DEPLOY, EVAL = "graft", "stage1", "stage2", "lora", "export", "deploy", "eval"

TRAIN = (STAGE1, STAGE2, LORA)  # run by `swift sft`
BUILD = (GRAFT, *TRAIN, EXPORT)  # steps that leave a checkpoint behind, in the order `run` builds them
ORDER = (*BUILD, DEPLOY, EVAL)  # every step a recipe section can name, in pipeline order
INIT_ORDER = (GRAFT, *TRAIN)  # what a training stage may start from (an earlier one; `init:`)
SOURCES = BUILD  # what deploy / eval / perf may serve (--from, deploy.from, eval.compare)
DEPLOY_DEFAULT = (STAGE2, LORA, STAGE1, GRAFT)  # deploy.from: auto serves the first the recipe has
INIT_KEYWORDS = (*INIT_ORDER, "best")  # `init: best` is stage 1's best checkpoint

# Served and evaluated, never built: the graft's donor LLM alone (with its own model type and template), and
# the donor grafted into another host (graft.also_into), named graft-NAME, whose text scores the run report sets
# beside the donor's.
DONOR = "donor"
HOST_PREFIX = f"{GRAFT}-"

# verbs that hints name beside the steps (step_command)
DOCTOR, REHEARSE = "doctor", "rehearse"

ALIASES = {"1": STAGE1, "2": STAGE2, STAGE1: STAGE1, STAGE2: STAGE2, LORA: LORA}
CLI_NAMES = {STAGE1: "1", STAGE2: "2", LORA: "lora"}  # what `swiftplus train --stage` takes for each


def stage_name(value: str) -> str:
    """A training stage as the CLI names it (1, 2, lora, stage1, ...) -> its recipe section."""
    try:
        return ALIASES[value]
    except KeyError:
        raise UserError(f"unknown stage '{value}'; use 1, 2 or lora") from None


def step_command(ref: str, stage: str, *args: str) -> str:
    """The command a user types to run one step (or verb: doctor, deploy --stop, ...) of recipe `ref`, as every
    hint spells it."""
    head = f"swiftplus train {ref} --stage {CLI_NAMES[stage]}" if stage in CLI_NAMES else f"swiftplus {stage} {ref}"
    return " ".join((head, *args))


def host_source(name: str) -> str:
    """The source (and run directory) name of graft.also_into entry `name`."""
    return f"{HOST_PREFIX}{name}"


def host_name(recipe, source: str | None) -> str | None:
    """The graft.also_into entry a source names, or None (a stage, the donor, or a path)."""
    graft = getattr(recipe, GRAFT, None)
    if not source or graft is None or not source.startswith(HOST_PREFIX):
        return None
    name = source[len(HOST_PREFIX):]
    return name if any(h.name == name for h in graft.also_into) else None


def named_sources(recipe) -> list[str]:
    """Every checkpoint a recipe can name for deploy / eval: its built steps, the donor, its graft hosts."""
    out = present(recipe, SOURCES)
    graft = getattr(recipe, GRAFT, None)
    if graft is not None:
        out += [DONOR] + [host_source(h.name) for h in graft.also_into]
    return out


def present(recipe, names: tuple[str, ...] = ORDER) -> list[str]:
    """The steps among `names` that the recipe has a section for, in pipeline order."""
    return [s for s in names if getattr(recipe, s, None) is not None]


def earlier(stage: str) -> tuple[str, ...]:
    """The stages a training stage may start from."""
    return INIT_ORDER[: INIT_ORDER.index(stage)]
