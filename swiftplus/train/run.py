"""Stage 1 / stage 2 / LoRA through `swift sft`, chained by completion markers, resumable.

The decisions (state.py: what state a stage is in, what to do about it, where it starts from;
command.py: the exact argv and environment) are pure functions of the recipe and what is on disk;
`run_stage` is the thin shell that converts datasets, writes the run record, runs swift, and marks the
stage complete.
"""
from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from swiftplus.core import checkpoints, process, runs
from swiftplus.core.argv import shell_line
from swiftplus.core.errors import UserError
from swiftplus.core.stages import step_command
from swiftplus.core.tools import versions
from swiftplus.data import synthetic
from swiftplus.data.prepare import prepare_datasets
from swiftplus.recipe.load import LoadedRecipe
from swiftplus.train.command import sft_argv, sft_env
from swiftplus.train.loss_plot import draw
from swiftplus.train.state import Decision, completion, decide, init_model, stage_state
from swiftplus.train.topology import topology_for

RUNNING = "running.json"  # this node's live swift process group, removed when it ends


def check_not_running(record: Path, stage: str) -> None:
    """Two swift runs writing one output directory corrupt each other; a kill of swiftplus alone (not its
    process group) leaves swift training on, which this also catches."""
    info = runs.read_json(record / RUNNING)
    if not info or info.get("host") != socket.gethostname() or not isinstance(info.get("pgid"), int):
        return  # none, or another machine's: nothing this host can check
    if process.group_running(info["pgid"]):
        raise UserError(f"{stage} is already running on this machine (swift process group {info['pgid']}, "
                        f"started {info.get('at')}). Wait for it, or stop it: kill -- -{info['pgid']}")


def train_log(record: Path) -> Path:
    """swift's output of one node's attempts at a stage (record: runs.record_dir of the stage and node)."""
    return Path(record) / "train.log"


# --- the launch itself, as data --------------------------------------------------------------------------

@dataclass
class StageRun:
    stage: str
    root: Path
    record: Path  # where this node's record and log go
    decision: Decision
    node_rank: int = 0
    model: str | None = None
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def log(self) -> Path:
        return train_log(self.record)

    def render(self) -> str:
        return shell_line(self.argv, self.env).replace(" --", " \\\n    --")


def prepare(loaded: LoadedRecipe, stage: str, environ: Mapping[str, str], *, resume: bool = False,
            ref: str | None = None, swift: str | None = None) -> StageRun:
    """Everything decided before a stage launches (pure but for reading the run directory); plan shows the
    same argv and environment, and _launch runs exactly these."""
    recipe = loaded.recipe
    ref = ref or str(loaded.path)
    if getattr(recipe, stage) is None:
        raise UserError(f"recipe {loaded.path} has no {stage} section")
    topo = topology_for(recipe, stage, environ)
    state = stage_state(recipe, stage)
    record = runs.record_dir(state.root, topo.node_rank)
    check_not_running(record, stage)
    decision = decide(state, resume, step_command(ref, stage), topo.node_rank)
    run = StageRun(stage, state.root, record, decision, topo.node_rank)
    if decision.action == "skip":
        return run
    run.model = init_model(recipe, stage, ref)
    run.argv = sft_argv(recipe, stage, run.model, swift or process.swift_executable(), decision.resume_from)
    run.env = sft_env(recipe, stage, topo.env())
    return run


# --- the thin shell ------------------------------------------------------------------------------------------

def run_stage(loaded: LoadedRecipe, stage: str, *, resume: bool = False, dry_run: bool = False,
              environ: Mapping[str, str] | None = None, ref: str | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    run = prepare(loaded, stage, environ, resume=resume, ref=ref)
    if run.decision.action == "skip":
        print(run.decision.message)
        return 0
    if dry_run:
        print(f"# {stage}: {run.decision.message} (dry run: nothing is started)\n{run.render()}")
        return 0
    synthetic.ensure(loaded.recipe)  # the demo's generated task, when the recipe has one
    if run.decision.clean_output:
        shutil.rmtree(run.output, ignore_errors=True)
    datasets = prepare_datasets(loaded.recipe, stage, run.root, run.record, run.model, environ)
    runs.write_record(run.record, recipe_data=loaded.data, argv=run.argv, env=runs.recorded_env(run.env, environ),
                      versions=versions(), inputs=runs.input_hashes(run.model, datasets, loaded.recipe))
    started = time.time()
    runs.append_attempt(run.record, {"event": run.decision.action, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                     "resume_from": run.decision.resume_from, "node_rank": run.node_rank,
                                     "inputs_sha256": runs.file_digest(run.record / "inputs.json")})
    header = f"swiftplus: {run.decision.message} -> {run.output} (log: {run.log})"
    print(header, flush=True)
    run.log.parent.mkdir(parents=True, exist_ok=True)
    with open(run.log, "a", encoding="utf-8") as f:
        f.write(f"\n===== {header}\n")
    rc = None
    try:
        rc = _launch(run)
    finally:
        runs.append_attempt(run.record, {"event": "exit", "rc": rc, "seconds": round(time.time() - started, 1)})
        if run.node_rank == 0:
            _plot(run, stage)
    if rc != 0:
        saved = checkpoints.last_saved(run.output)
        again = f"continue with `{step_command(ref or str(loaded.path), stage)} --resume`" if saved else "run it again"
        print(f"swiftplus: {stage} failed: swift exited with {rc}; see {run.log}; {again}", flush=True)
        return rc if rc > 0 else 128 - rc
    if run.node_rank > 0:
        print(f"swiftplus: {stage} finished on node {run.node_rank}; node 0 records completion", flush=True)
        return 0
    info = completion(run.output, stage, loaded.recipe)
    runs.mark_complete(run.root, info)
    print(f"swiftplus: {stage} complete: {info['checkpoint']}", flush=True)
    return 0


def _launch(run: StageRun) -> int:
    """swift in its own process group, streamed to the terminal and train.log; signals stop the group."""
    managed = process.Managed(run.argv, env=run.env, log=run.log)
    marker = run.record / RUNNING
    with managed, process.forwarding_signals(managed):
        runs.write_json_atomic(marker, {"pgid": managed.pid, "host": socket.gethostname(),
                                        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        try:
            return managed.wait()
        finally:
            marker.unlink(missing_ok=True)


def _plot(run: StageRun, stage: str) -> None:
    try:
        png = draw(run.output / "logging.jsonl", run.root / "loss.png", title=f"{stage} loss")
    except Exception as e:  # a plot must never cost a finished training its completion marker
        print(f"swiftplus: could not draw the loss curve ({type(e).__name__}: {e})", flush=True)
        return
    if png:
        print(f"swiftplus: loss curve: {png}", flush=True)
