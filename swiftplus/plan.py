"""Recipe -> the ordered steps that would run, per stage and per node (pure; imports no torch, no swift)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Mapping

from swiftplus import distributed, runs
from swiftplus.argv import shell_line
from swiftplus.deploy_command import deploy_argv, deploy_env, served_model, served_name
from swiftplus.errors import UserError
from swiftplus.recipe import LoadedRecipe
from swiftplus.recipe_schema import Recipe
from swiftplus.sft_command import init_source, resolve_init, sft_argv, stage_env

ORDER = ("graft", "stage1", "stage2", "lora", "export", "deploy", "eval")
TRAIN = ("stage1", "stage2", "lora")


@dataclass
class Step:
    stage: str
    argv: list[str] | None = None  # None: swiftplus does the work in-process (graft)
    env: dict[str, str] = field(default_factory=dict)
    node_rank: int | None = None
    detail: dict | list | None = None
    notes: list[str] = field(default_factory=list)


def present_stages(recipe: Recipe) -> list[str]:
    return [s for s in ORDER if getattr(recipe, s) is not None]


def topology_for(recipe: Recipe, stage: str, environ: Mapping[str, str]) -> distributed.Topology:
    """The real environment wins over the recipe, as swift itself treats ENV from its config files."""
    merged = stage_env(recipe, stage)
    merged.update(environ)
    return distributed.resolve(merged)


def graft_step(recipe: Recipe) -> Step:
    g = recipe.graft
    detail = {"template": g.template, "donor": g.donor, "output": str(runs.stage_dir(recipe, "graft")),
              "merger_init": g.merger_init, "allow_dropped": g.allow_dropped, "hub": g.hub or recipe.hub}
    return Step("graft", None, {}, None, detail, ["streamed in-process by swiftplus (no GPU, bounded memory)"])


def train_steps(recipe: Recipe, stage: str, environ: Mapping[str, str], all_nodes: bool) -> list[Step]:
    model, resolved = resolve_init(recipe, stage)
    topo = topology_for(recipe, stage, environ)
    base_env = stage_env(recipe, stage)
    ranks = range(topo.nnodes) if all_nodes else [topo.node_rank]
    notes = [] if resolved else [f"--model is resolved when {init_source(recipe, stage).stage} completes"]
    steps = []
    for rank in ranks:
        env = {**base_env, **topo.env(rank)}
        steps.append(Step(stage, sft_argv(recipe, stage, model), env, rank if topo.nnodes > 1 else None, None, notes))
    return steps


def export_step(recipe: Recipe) -> Step:
    from swiftplus.export_command import adapters_source, export_argv

    adapters, resolved = adapters_source(recipe)
    notes = [] if resolved else ["--adapters is resolved when the LoRA stage completes"]
    argv = export_argv(recipe, adapters, runs.output_dir(recipe, "export"))
    return Step("export", argv, stage_env_plain(recipe), None, None, notes)


def stage_env_plain(recipe: Recipe) -> dict[str, str]:
    return {k: str(v) for k, v in recipe.env.items()}


def deploy_step(recipe: Recipe, source: str | None = None) -> Step:
    served = served_model(recipe, source)
    notes = [] if served.resolved else [f"the model path is resolved when {served.source} completes"]
    return Step("deploy", deploy_argv(recipe, served), deploy_env(recipe), None, None, notes)


def eval_step(recipe: Recipe) -> Step:
    from swiftplus.eval_config import task_configs
    from swiftplus.evaluate import source_label
    from swiftplus.ports import base_url

    port = recipe.deploy.port if recipe.deploy is not None else 8000
    host = recipe.deploy.host if recipe.deploy is not None else "127.0.0.1"
    key = recipe.deploy.api_key if recipe.deploy is not None else None
    configs = task_configs(recipe, base_url=base_url(host, port), model=served_name(recipe), api_key=key,
                           work_dir=str(runs.stage_dir(recipe, "eval") / source_label(recipe, None)))
    notes = ["EvalScope task config(s), run against the detached deploy endpoint when one runs; otherwise "
             "`swiftplus eval` starts the endpoint on a free loopback port and stops it afterwards"]
    return Step("eval", None, {}, None, configs, notes)


def plan(loaded: LoadedRecipe, stages: list[str] | None = None, environ: Mapping[str, str] | None = None,
         all_nodes: bool = True) -> list[Step]:
    recipe = loaded.recipe
    environ = dict(os.environ if environ is None else environ)
    wanted = stages or present_stages(recipe)
    for s in wanted:
        if s not in ORDER:
            raise UserError(f"unknown stage '{s}'; stages are {', '.join(ORDER)}")
        if getattr(recipe, s) is None:
            raise UserError(f"recipe {loaded.path} has no {s} section")
    steps: list[Step] = []
    for s in wanted:
        if s == "graft":
            steps.append(graft_step(recipe))
        elif s in TRAIN:
            steps += train_steps(recipe, s, environ, all_nodes)
        elif s == "export":
            steps.append(export_step(recipe))
        elif s == "deploy":
            steps.append(deploy_step(recipe))
        elif s == "eval":
            steps.append(eval_step(recipe))
    return steps


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
