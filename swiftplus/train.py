"""Stage 1 / stage 2 / LoRA through `swift sft`, chained by completion markers, resumable.

The decisions (what state a stage is in, what to do about it, where it starts from, the exact argv and
environment) are pure functions of the recipe and what is on disk; `run_stage` is the thin shell that
converts datasets, writes the run record, runs swift, and marks the stage complete.
"""
from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from swiftplus import checkpoints, runs
from swiftplus.argv import shell_line
from swiftplus.checkpoints import Checkpoint
from swiftplus.errors import UserError
from swiftplus.recipe import LoadedRecipe
from swiftplus.recipe_schema import Recipe
from swiftplus.sft_command import init_source, sft_argv, stage_env

RUNNING = "running.json"  # this node's live swift process group, removed when it ends
STAGE_ALIASES = {"1": "stage1", "2": "stage2", "stage1": "stage1", "stage2": "stage2", "lora": "lora"}
CLI_STAGE = {"stage1": "1", "stage2": "2", "lora": "lora"}


def stage_name(value: str) -> str:
    try:
        return STAGE_ALIASES[value]
    except KeyError:
        raise UserError(f"unknown stage '{value}'; use 1, 2 or lora") from None


def train_command(ref: str, stage: str) -> str:
    return f"swiftplus train {ref} --stage {CLI_STAGE[stage]}"


# --- what is on disk ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageState:
    stage: str
    root: Path
    complete: dict | None  # complete.json, when the stage finished
    saved: Checkpoint | None  # the newest fully written checkpoint in output/
    started: bool  # swift wrote something into output/

    @property
    def output(self) -> Path:
        return self.root / "output"


def stage_state(recipe: Recipe, stage: str) -> StageState:
    root = runs.stage_dir(recipe, stage)
    out = runs.output_dir(recipe, stage)
    started = out.is_dir() and any(out.iterdir())
    return StageState(stage, root, runs.read_complete(root), checkpoints.last_saved(out), started)


# --- what to do about it -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    action: str  # skip | start | resume
    message: str
    resume_from: Path | None = None
    clean_output: bool = False  # a failed attempt that saved nothing: its leftovers would mix into the logs


def decide(state: StageState, resume: bool, command: str, node_rank: int = 0) -> Decision:
    """Complete: no-op. Interrupted after a save: refuse unless --resume (never silently start over and
    lose GPU hours). Stopped before any save: there is nothing to lose, so start over. Every node decides
    alike from what it sees, so a multi-node resume needs the run directory on a shared filesystem (as the
    Trainer itself does: each rank loads the checkpoint); only node 0 clears a failed attempt's output."""
    if state.complete:
        ckpt = state.complete.get("checkpoint")
        return Decision("skip", f"{state.stage} is already complete ({ckpt}); nothing to do. "
                                f"To train it again, delete {state.root}")
    if state.saved is not None:
        where = f"{state.saved.path.name} ({checkpoints.progress(state.saved.path)})"
        if resume:
            return Decision("resume", f"resuming {state.stage} from {where}", state.saved.path)
        raise UserError(f"{state.stage} in {state.root} was interrupted after saving {where}. "
                        f"Continue it with `{command} --resume`, or delete {state.output} to start over.")
    if state.started:
        why = "--resume has nothing to continue from: " if resume else ""
        return Decision("start", f"{why}{state.stage}'s earlier attempt saved no checkpoint; starting it over",
                        clean_output=node_rank == 0)
    return Decision("start", f"starting {state.stage}")


def _stage_ref(recipe: Recipe, ref: str, stage: str) -> str:
    return train_command(ref, stage) if stage in CLI_STAGE else f"swiftplus {stage} {ref}"


def init_model(recipe: Recipe, stage: str, ref: str) -> str:
    """The --model a stage starts from; a clear refusal while the stage it starts from is unfinished."""
    src = init_source(recipe, stage)
    if src.explicit:
        return _explicit_init(src.explicit, stage)
    if src.stage == "graft":
        ckpt = runs.final_checkpoint(recipe, "graft")
        if ckpt is None:
            raise UserError(f"{stage} starts from the graft output {runs.stage_dir(recipe, 'graft')}, which is not "
                            f"built yet. Build it first: swiftplus graft {ref}")
        return str(ckpt)
    prev = stage_state(recipe, src.stage)
    if not prev.complete:
        run_prev = _stage_ref(recipe, ref, src.stage)
        if prev.saved is not None:
            raise UserError(f"{stage} starts from {src.stage}'s final checkpoint, but {src.stage} in {prev.root} is "
                            f"incomplete: it was interrupted after {prev.saved.path.name} "
                            f"({checkpoints.progress(prev.saved.path)}). Finish it first: {run_prev} --resume")
        if prev.started:
            raise UserError(f"{stage} starts from {src.stage}'s final checkpoint, but {src.stage} in {prev.root} "
                            f"did not finish and saved no checkpoint. Run it again: {run_prev}")
        raise UserError(f"{stage} starts from {src.stage}'s final checkpoint, but {src.stage} has not run yet. "
                        f"Run it first: {run_prev}")
    key = "best_checkpoint" if src.pick == "best" else "checkpoint"
    chosen = prev.complete.get(key)
    if not chosen:
        raise UserError(f"{stage}.init: best: {src.stage} recorded no best checkpoint (that needs a val_dataset, "
                        f"eval_steps and metric_for_best_model in {src.stage}). Use init: {src.stage} for its "
                        f"final checkpoint.")
    if not Path(chosen).is_dir():
        raise UserError(f"{stage} starts from {chosen} ({src.stage}'s {key.replace('_', ' ')}), which no longer "
                        f"exists. Restore it, or delete {prev.root} and run {src.stage} again.")
    return chosen


def _explicit_init(value: str, stage: str) -> str:
    path = Path(value).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"{stage}.init: {value} is not a model directory (no config.json in it)")
        return str(path.resolve())
    if value.startswith(("/", ".", "~")) or value.count("/") != 1:
        raise UserError(f"{stage}.init: {value}: no such directory, and not a hub id like Org/Name")
    return value  # a hub id: swift fetches it


def check_not_running(record: Path, stage: str) -> None:
    """Two swift runs writing one output directory corrupt each other; a kill of swiftplus alone (not its
    process group) leaves swift training on, which this also catches."""
    from swiftplus.process import group_running

    info = runs.read_json(record / RUNNING)
    if not info or info.get("host") != socket.gethostname() or not isinstance(info.get("pgid"), int):
        return  # none, or another machine's: nothing this host can check
    if group_running(info["pgid"]):
        raise UserError(f"{stage} is already running on this machine (swift process group {info['pgid']}, "
                        f"started {info.get('at')}). Wait for it, or stop it: kill -- -{info['pgid']}")


def check_stage(recipe: Recipe, stage: str) -> None:
    flags = {**recipe.swift, **getattr(recipe, stage).flags}
    if "save_strategy" in flags and str(flags["save_strategy"]).lower() in ("no", "false"):  # YAML reads no as false
        raise UserError(f"{stage}.save_strategy: no saves no checkpoint, so {stage} could never hand one on; "
                        f"use steps (with save_steps) or epoch")


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
        return self.record / "train.log"

    def render(self) -> str:
        return shell_line(self.argv, self.env).replace(" --", " \\\n    --")


def prepare(loaded: LoadedRecipe, stage: str, environ: Mapping[str, str], *, resume: bool = False,
            ref: str | None = None, swift: str = "swift") -> StageRun:
    from swiftplus.plan import topology_for

    recipe = loaded.recipe
    ref = ref or str(loaded.path)
    if getattr(recipe, stage) is None:
        raise UserError(f"recipe {loaded.path} has no {stage} section")
    check_stage(recipe, stage)
    topo = topology_for(recipe, stage, environ)
    state = stage_state(recipe, stage)
    record = runs.record_dir(state.root, topo.node_rank)
    check_not_running(record, stage)
    decision = decide(state, resume, train_command(ref, stage), topo.node_rank)
    run = StageRun(stage, state.root, record, decision, topo.node_rank)
    if decision.action == "skip":
        return run
    run.model = init_model(recipe, stage, ref)
    run.argv = sft_argv(recipe, stage, run.model, swift)
    if decision.resume_from is not None:
        run.argv += ["--resume_from_checkpoint", str(decision.resume_from)]
    run.env = {**stage_env(recipe, stage), **topo.env()}
    return run


def completion(output_dir: Path, stage: str) -> dict:
    """complete.json's content once swift exited 0; a UserError when the final checkpoint is not whole."""
    final = checkpoints.last_saved(output_dir)
    if final is None:
        raise UserError(f"swift exited 0 but {output_dir} holds no saved checkpoint, so {stage} is not complete. "
                        f"Check save_steps / save_strategy, then run the stage again.")
    reported = checkpoints.run_summary(output_dir).get("last_model_checkpoint")
    if reported and Path(reported).resolve().name != final.path.name:
        raise UserError(f"swift exited 0 and reported {reported} as its last checkpoint, but the newest complete "
                        f"one in {output_dir} is {final.path.name}, so {stage} is not complete.")
    missing = checkpoints.missing_files(final.path)
    if missing:
        raise UserError(f"swift exited 0 but the final checkpoint {final.path} lacks {', '.join(missing)}, so "
                        f"{stage} is not complete.")
    best = checkpoints.best_checkpoint(final.path)
    return {"stage": stage, "checkpoint": str(final.path.resolve()), "step": final.step,
            "best_checkpoint": str(best.resolve()) if best else None, "adapter": final.is_adapter,
            "completed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


# --- the thin shell ------------------------------------------------------------------------------------------

def run_stage(loaded: LoadedRecipe, stage: str, *, resume: bool = False, dry_run: bool = False,
              environ: Mapping[str, str] | None = None, ref: str | None = None) -> int:
    from swiftplus import process

    environ = dict(os.environ if environ is None else environ)
    swift = "swift" if dry_run else process.swift_executable()
    run = prepare(loaded, stage, environ, resume=resume, ref=ref, swift=swift)
    if run.decision.action == "skip":
        print(run.decision.message)
        return 0
    if dry_run:
        print(f"# {stage}: {run.decision.message} (dry run: nothing is started)\n{run.render()}")
        return 0
    if run.decision.clean_output:
        shutil.rmtree(run.output, ignore_errors=True)
    from swiftplus.train_data import prepare_datasets

    datasets = prepare_datasets(loaded.recipe, stage, run.root, run.record, run.model, environ)
    from swiftplus.versions import versions

    runs.write_record(run.record, recipe_data=loaded.data, argv=run.argv, env=runs.recorded_env(run.env, environ),
                      versions=versions(), inputs=runs.input_hashes(run.model, datasets))
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
        again = f"continue with `{train_command(ref or str(loaded.path), stage)} --resume`" if saved else "run it again"
        print(f"swiftplus: {stage} failed: swift exited with {rc}; see {run.log}; {again}", flush=True)
        return rc if rc > 0 else 128 - rc
    if run.node_rank > 0:
        print(f"swiftplus: {stage} finished on node {run.node_rank}; node 0 records completion", flush=True)
        return 0
    info = completion(run.output, stage)
    runs.mark_complete(run.root, info)
    print(f"swiftplus: {stage} complete: {info['checkpoint']}", flush=True)
    return 0


def _launch(run: StageRun) -> int:
    """swift in its own process group, streamed to the terminal and train.log; signals stop the group."""
    from swiftplus import process

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
    from swiftplus.loss_plot import draw

    try:
        png = draw(run.output / "logging.jsonl", run.root / "loss.png", title=f"{stage} loss")
    except Exception as e:  # a plot must never cost a finished training its completion marker
        print(f"swiftplus: could not draw the loss curve ({type(e).__name__}: {e})", flush=True)
        return
    if png:
        print(f"swiftplus: loss curve: {png}", flush=True)
