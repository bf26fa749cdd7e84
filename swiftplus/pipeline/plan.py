"""Recipe -> the ordered steps that would run, per stage and per node (pure; imports no torch, no swift).

Each step's argv and environment are what the step's command.py returns, the same calls its run.py makes,
so what `plan` prints is exactly what runs.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Mapping

from swiftplus.core import runs, stages
from swiftplus.core.argv import shell_line
from swiftplus.core.errors import UserError
from swiftplus.core.lineage import init_source, resolve_init
from swiftplus.core.ports import base_url
from swiftplus.core.process import swift_executable
from swiftplus.core.secrets import PLACEHOLDER, redact_env
from swiftplus.evaluate.config import task_configs
from swiftplus.evaluate.run import source_label
from swiftplus.export.command import adapters_source, export_argv, export_env
from swiftplus.recipe.load import LoadedRecipe
from swiftplus.recipe.schema import Recipe
from swiftplus.serve import command as serve_command
from swiftplus.train.command import sft_argv, sft_env
from swiftplus.train.topology import topology_for


@dataclass
class Step:
    stage: str
    argv: list[str] | None = None  # None: swiftplus does the work in-process (graft)
    env: dict[str, str] = field(default_factory=dict)
    node_rank: int | None = None
    detail: dict | list | None = None
    notes: list[str] = field(default_factory=list)


def graft_step(recipe: Recipe) -> Step:
    g = recipe.graft
    detail = {"template": g.template, "donor": g.donor, "output": str(runs.stage_dir(recipe, stages.GRAFT)),
              "host": g.host, "merger_init": g.merger_init, "allow_dropped": g.allow_dropped,
              "hub": g.hub or recipe.hub, **({"family": g.family} if g.family else {})}
    if g.also_into:  # the same donor into other hosts, for the run report's comparison
        detail["also_into"] = [{"template": h.template, "host": h.host, "output": str(runs.host_graft_dir(recipe, h.name)),
                            "allow_dropped": h.allow_dropped} for h in g.also_into]
    return Step(stages.GRAFT, None, {}, None, detail, ["streamed in-process by swiftplus (no GPU, bounded memory)"])


def train_steps(recipe: Recipe, stage: str, environ: Mapping[str, str], all_nodes: bool, swift: str) -> list[Step]:
    model, resolved = resolve_init(recipe, stage)
    topo = topology_for(recipe, stage, environ)
    ranks = range(topo.nnodes) if all_nodes else [topo.node_rank]
    notes = [] if resolved else [f"--model is resolved when {init_source(recipe, stage).stage} completes"]
    if topo.nproc_defaulted:
        notes.append(f"NPROC_PER_NODE is unset: {topo.nproc_per_node}, the GPUs visible here (each node uses its own "
                     "count); set it to choose")
    argv = sft_argv(recipe, stage, model, swift)
    return [Step(stage, argv, sft_env(recipe, stage, topo.env(rank)), rank if topo.nnodes > 1 else None, None, notes)
            for rank in ranks]


def export_step(recipe: Recipe, swift: str) -> Step:
    adapters, resolved = adapters_source(recipe)
    notes = ["written to output.partial, renamed to output once the merged model is whole"]
    if not resolved:
        notes.insert(0, "--adapters is resolved when the LoRA stage completes")
    return Step(stages.EXPORT, export_argv(recipe, adapters, swift), export_env(recipe), None, None, notes)


def deploy_step(recipe: Recipe, swift: str, source: str | None = None) -> Step:
    served = serve_command.served_model(recipe, source)
    notes = [] if served.resolved else [f"the model path is resolved when {served.source} completes"]
    planned = serve_command.launch(recipe, served, swift=swift, python=sys.executable)
    return Step(stages.DEPLOY, planned.argv, planned.env, None, None, notes)


def eval_step(recipe: Recipe) -> Step:
    section = recipe.deploy
    port = section.port if section is not None else serve_command.DEFAULT_PORT
    host = section.host if section is not None else serve_command.DEFAULT_HOST
    key = PLACEHOLDER if section is not None and section.api_key else None
    configs = []
    for source in list(recipe.eval.compare) or [None]:  # what `swiftplus run` evaluates
        label = source_label(recipe, source)
        configs += task_configs(recipe, base_url=base_url(host, port), model=serve_command.served_name(recipe),
                                api_key=key, work_dir=str(runs.eval_dir(recipe) / label), source=label)
    notes = ["EvalScope task config(s), run against the detached deploy endpoint when one runs; otherwise "
             "`swiftplus eval` starts the endpoint on a free loopback port and stops it afterwards"]
    return Step(stages.EVAL, None, {}, None, configs, notes)


def plan(loaded: LoadedRecipe, wanted: list[str] | None = None, environ: Mapping[str, str] | None = None,
         all_nodes: bool = True) -> list[Step]:
    recipe = loaded.recipe
    environ = dict(os.environ if environ is None else environ)
    wanted = wanted or stages.present(recipe)
    for s in wanted:
        if s not in stages.ORDER:
            raise UserError(f"unknown stage '{s}'; stages are {', '.join(stages.ORDER)}")
        if getattr(recipe, s) is None:
            raise UserError(f"recipe {loaded.path} has no {s} section")
    swift = swift_executable()
    steps: list[Step] = []
    for s in stages.present(recipe, tuple(wanted)):
        if s == stages.GRAFT:
            steps.append(graft_step(recipe))
        elif s in stages.TRAIN:
            steps += train_steps(recipe, s, environ, all_nodes, swift)
        elif s == stages.EXPORT:
            steps.append(export_step(recipe, swift))
        elif s == stages.DEPLOY:
            steps.append(deploy_step(recipe, swift))
        elif s == stages.EVAL:
            steps.append(eval_step(recipe))
    return steps


def as_json(steps: list[Step]) -> str:
    """`plan --json`: every step as data, secret-named environment variables masked."""
    return json.dumps([{**s.__dict__, "env": redact_env(s.env)} for s in steps], indent=2, default=str)


def render(steps: list[Step]) -> str:
    out = []
    for step in steps:
        node = f" (node {step.node_rank})" if step.node_rank is not None else ""
        out.append(f"# {step.stage}{node}")
        for note in step.notes:
            out.append(f"#   {note}")
        if step.argv is not None:
            out.append(shell_line(step.argv, step.env).replace(" --", " \\\n    --"))
        if step.detail is not None:
            out.append(json.dumps(step.detail, indent=2, default=str))
        out.append("")
    return "\n".join(out)
