"""`swiftplus doctor RECIPE`, and the same checks as a preflight before graft, train, export, deploy and run:
every stage the command will reach, in seconds, before any download or launch; problems raise one
UserError (exit 2) naming each setting and its fix.
"""
from __future__ import annotations

import hashlib
import os
import socket
import time
from dataclasses import dataclass
from typing import Mapping

from swiftplus.core import lineage, runs, stages
from swiftplus.core.errors import UserError
from swiftplus.core.gpus import visible
from swiftplus.core.stages import DEPLOY, DOCTOR, EVAL, EXPORT, GRAFT, step_command
from swiftplus.doctor import checks, needs, probe
from swiftplus.doctor.estimate import GB, GIB
from swiftplus.recipe.load import LoadedRecipe
from swiftplus.recipe.schema import Recipe
from swiftplus.train.topology import Topology, topology_for

SHARED_TIMEOUT = "SWIFTPLUS_SHARED_TIMEOUT"  # seconds nodes > 0 wait for node 0's marker (default 300)
MARKER_MAX_AGE = 6 * 3600  # an older marker is a previous job's


@dataclass
class Assessment:
    needs: list[needs.StageNeeds]
    facts: checks.Facts
    found: list[checks.Problem]
    skipped: list[str]  # complete stages: the command will not run them

    @property
    def problems(self) -> list[checks.Problem]:
        return [p for p in self.found if not p.warning]

    @property
    def warnings(self) -> list[checks.Problem]:
        return [p for p in self.found if p.warning]


def run_stages(recipe: Recipe) -> list[str]:
    """What `swiftplus run` reaches: every build step, and the endpoint its evaluation starts."""
    reached = stages.present(recipe, stages.BUILD)
    return reached + ([DEPLOY, EVAL] if recipe.eval is not None else [])


def is_complete(recipe: Recipe, stage: str) -> bool:
    if stage in stages.BUILD:
        return lineage.final_checkpoint(recipe, stage) is not None
    return False


def stage_needs(recipe: Recipe, stage: str, lookup, environ: Mapping[str, str], gpus: int,
                source: str | None) -> needs.StageNeeds:
    if stage == GRAFT:
        return needs.graft_needs(recipe, lookup)
    if stage in stages.TRAIN:
        topo = topology_for(recipe, stage, environ, gpus)
        return needs.train_needs(recipe, stage, topo, lookup, probe.modelscope_cache(environ), environ)
    if stage == EXPORT:
        return needs.export_needs(recipe, lookup)
    if stage == DEPLOY:
        return needs.deploy_needs(recipe, lookup, source)
    return needs.eval_needs(recipe)


def assess(loaded: LoadedRecipe, wanted: list[str], environ: Mapping[str, str] | None = None,
           source: str | None = None) -> Assessment:
    recipe = loaded.recipe
    environ = dict(os.environ if environ is None else environ)
    gpus = visible({**{k: str(v) for k, v in recipe.env.items()}, **environ})
    lookup = probe.lookup_for(recipe.hub, environ)
    todo = [s for s in wanted if not is_complete(recipe, s)]
    found = [stage_needs(recipe, s, lookup, environ, gpus.count, source) for s in todo]
    modules = {p.module for n in found for p in n.packages}
    facts = checks.Facts(gpus, probe.importable(modules), probe.space({d.path for n in found for d in n.disk}),
                         probe.host_memory())
    return Assessment(found, facts, checks.check(found, facts), [s for s in wanted if s not in todo])


def render_problems(problems: list[checks.Problem], what: str, last: str) -> str:
    rows = [f"  {i}. {p.render()}" for i, p in enumerate(problems, 1)]
    return "\n".join([f"{what}: {len(problems)} unmet need{'s' if len(problems) != 1 else ''}:", *rows, last])


def preflight(loaded: LoadedRecipe, wanted: list[str], *, environ: Mapping[str, str] | None = None,
              source: str | None = None) -> Assessment:
    """The doctor's checks for the stages a command will reach; raises UserError on any unmet need."""
    environ = dict(os.environ if environ is None else environ)
    result = assess(loaded, wanted, environ, source)
    if result.problems:
        raise UserError(render_problems(result.problems, f"preflight for {', '.join(wanted)}",
                                        f"Nothing was started. `{step_command(loaded.recipe.ref, DOCTOR)}` shows the estimates; "
                                        "--skip-preflight launches anyway."))
    for n in result.needs:
        if n.topology is not None and n.topology.nnodes > 1:
            check_shared_run_dir(loaded.recipe, wanted, n.topology, environ)
            break
    for w in result.warnings:
        print(f"warning: {w.render()}", flush=True)
    print(f"preflight: ok ({summary(result)}); details: {step_command(loaded.recipe.ref, DOCTOR)}", flush=True)
    return result


def summary(result: Assessment) -> str:
    parts = [f"GPUs: {result.facts.gpus.describe()}"]
    for n in result.needs:
        if n.topology is not None and n.topology.nproc_defaulted:
            parts.append(f"{n.stage}: NPROC_PER_NODE={n.topology.nproc_per_node} (one per visible GPU)")
    total = sum({d.key: d.bytes for n in result.needs for d in n.disk}.values())
    if total:
        parts.append(f"disk ~{total / GB:.1f} GB")
    return "; ".join(parts)


# --- several nodes: the run directory must be one filesystem ---------------------------------------------

def job_key(topo: Topology, environ: Mapping[str, str], wanted: list[str]) -> str:
    """The same on every node of one job, different for the next job."""
    ids = [environ.get(k, "") for k in ("SLURM_JOB_ID", "MLP_TASK_ID", "TORCHELASTIC_RUN_ID")]
    raw = "|".join([topo.master_addr, str(topo.master_port), str(topo.nnodes), *ids, *wanted])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def check_shared_run_dir(recipe: Recipe, wanted: list[str], topo: Topology, environ: Mapping[str, str],
                         *, sleep=time.sleep, clock=time.time) -> None:
    """Node 0 writes a marker into the run directory; every other node must see it within the timeout."""
    marker = runs.node_marker(recipe, job_key(topo, environ, wanted))
    if topo.node_rank == 0:
        runs.write_json_atomic(marker, {"host": socket.gethostname(), "at": clock()})
        return
    try:
        timeout = float(environ.get(SHARED_TIMEOUT) or 300)
    except ValueError:
        raise UserError(f"{SHARED_TIMEOUT}={environ[SHARED_TIMEOUT]!r} must be a number of seconds") from None
    deadline = clock() + timeout
    while True:
        seen = runs.read_json(marker)
        if isinstance(seen, dict) and clock() - float(seen.get("at") or 0) < MARKER_MAX_AGE:
            return
        if clock() >= deadline:
            raise UserError(f"node {topo.node_rank}: node 0's marker {marker} did not appear within {timeout:.0f} s, "
                            f"so {marker.parents[1]} is not on a filesystem all {topo.nnodes} nodes share "
                            "(stage 2 and --resume read stage 1's checkpoints from it). Put run_dir on shared "
                            f"storage, or raise {SHARED_TIMEOUT} if node 0 starts later than this node.")
        sleep(2.0)


# --- the report ---------------------------------------------------------------------------------------------

def describe(n: needs.StageNeeds) -> list[str]:
    lines = [n.model] if n.model else []
    if n.topology is not None:
        t = n.topology
        procs = f"{t.nproc_per_node or 1} process(es) per node x {t.nnodes} node(s)"
        if t.nproc_defaulted:
            procs += " (NPROC_PER_NODE unset: one per visible GPU)"
        lines.append(procs + (f", DeepSpeed {n.deepspeed}" if n.deepspeed else ""))
    if n.memory:
        parts = " + ".join(f"{k} {v / GIB:.1f}" for k, v in n.memory.items())
        lines.append(f"memory ~{sum(n.memory.values()) / GIB:.1f} GiB per device ({parts})")
    for d in n.disk:
        lines.append(f"disk {d.bytes / GB:.1f} GB: {d.what} -> {d.path}")
    lines += [f"note: {note}" for note in n.notes]
    return lines


def report(loaded: LoadedRecipe, result: Assessment) -> str:
    f = result.facts
    out = [f"doctor: {loaded.path}", f"  GPUs      {f.gpus.describe()}",
           f"  RAM       {f.host_memory / GIB:.1f} GiB"]
    for n in result.needs:
        body = describe(n) or ["nothing to check"]
        out.append(f"  {n.stage:<9} {body[0]}")
        out += [f"  {'':<9} {line}" for line in body[1:]]
    out += [f"  {s:<9} complete: the commands skip it" for s in result.skipped]
    return "\n".join(out)


def doctor(loaded: LoadedRecipe, environ: Mapping[str, str] | None = None) -> int:
    recipe = loaded.recipe
    wanted = set(stages.present(recipe)) | set(run_stages(recipe))  # eval starts an endpoint: deploy's needs
    result = assess(loaded, [s for s in stages.ORDER if s in wanted], environ)
    print(report(loaded, result))
    for w in result.warnings:
        print(f"warning: {w.render()}")
    if result.problems:
        raise UserError(render_problems(result.problems, f"doctor {loaded.path}",
                                        "Every launching verb runs these checks first (--skip-preflight to launch "
                                        "anyway)."))
    print("doctor: every need is met")
    return 0
