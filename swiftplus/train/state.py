"""What state a stage is in, what to do about it, and where it starts from.

Pure decisions over the recipe and what is on disk (complete.json, saved checkpoints); train/run.py is
the shell that acts on them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from swiftplus.core import checkpoints, runs
from swiftplus.core.checkpoints import Checkpoint
from swiftplus.core.errors import UserError
from swiftplus.core.hub import is_hub_id
from swiftplus.core.lineage import final_checkpoint, init_source, recorded_checkpoint
from swiftplus.core.stages import GRAFT, step_command
from swiftplus.recipe.schema import Recipe

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


def init_model(recipe: Recipe, stage: str, ref: str) -> str:
    """The --model a stage starts from; a clear refusal while the stage it starts from is unfinished."""
    src = init_source(recipe, stage)
    if src.explicit:
        return _explicit_init(src.explicit, stage)
    if src.stage == GRAFT:
        ckpt = final_checkpoint(recipe, GRAFT)
        if ckpt is None:
            raise UserError(f"{stage} starts from the graft output {runs.stage_dir(recipe, GRAFT)}, which is not "
                            f"built yet. Build it first: {step_command(ref, GRAFT)}")
        return str(ckpt)
    prev = stage_state(recipe, src.stage)
    if not prev.complete:
        run_prev = step_command(ref, src.stage)
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
    path = recorded_checkpoint(recipe, src.stage, chosen)
    if not path.is_dir():
        raise UserError(f"{stage} starts from {path} ({src.stage}'s {key.replace('_', ' ')}), which no longer "
                        f"exists. Restore it, or delete {prev.root} and run {src.stage} again.")
    return str(path)


def _explicit_init(value: str, stage: str) -> str:
    path = Path(value).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"{stage}.init: {value} is not a model directory (no config.json in it)")
        return str(path.resolve())
    if not is_hub_id(value):
        raise UserError(f"{stage}.init: {value}: no such directory, and not a hub id like Org/Name")
    return value  # a hub id: swift fetches it


def completion(output_dir: Path, stage: str, recipe: Recipe) -> dict:
    """complete.json's content once swift exited 0; a UserError when the final checkpoint is not whole.
    Checkpoints are named relative to the run directory (runs.record_path), so a copy hands on its own."""
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
    # named by where the stage writes them (output_dir is the run's, even when linked to other storage)
    return {"stage": stage, "checkpoint": runs.record_path(recipe, Path(output_dir) / final.path.name),
            "step": final.step, "adapter": final.is_adapter,
            "best_checkpoint": runs.record_path(recipe, Path(output_dir) / best.name) if best else None,
            "completed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
