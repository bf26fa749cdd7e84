"""Which checkpoint a stage name or `init:` means: the stage chain, read from completion markers.

Training asks it where a stage starts; serving, export, the doctor, the plan and the rehearsal ask it what a
stage handed on. `recipe` is any object with the schema's sections and run paths (core imports nothing above
it). Pure but for reading completion markers, and for the warning when one points outside its run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from swiftplus.core import runs, stages
from swiftplus.core.checkpoints import is_graft_output, missing_files
from swiftplus.core.errors import UserError, warn
from swiftplus.core.stages import GRAFT, STAGE1


@dataclass(frozen=True)
class InitSource:
    """Where a stage starts: another stage's final checkpoint, or a path / hub id given in the recipe."""

    stage: str | None  # graft | stage1 | stage2 | None for an explicit path or hub id
    pick: str = "last"  # last | best
    explicit: str | None = None

    def describe(self) -> str:
        if self.explicit:
            return self.explicit
        what = "best" if self.pick == "best" else "final"
        return f"<{self.stage}: {what} checkpoint>" if self.stage != GRAFT else "<graft output>"


def init_source(recipe, stage: str) -> InitSource:
    init = getattr(recipe, stage).init
    if init is None:
        earlier = stages.present(recipe, stages.earlier(stage))
        if not earlier:
            raise UserError(f"{stage}: nothing to start from; set {stage}.init")
        return InitSource(stage=earlier[-1])
    if init == "best":
        return InitSource(stage=STAGE1, pick="best")
    if init in stages.INIT_ORDER:
        return InitSource(stage=init)
    return InitSource(stage=None, explicit=init)


def final_checkpoint(recipe, stage: str, pick: str = "last") -> Path | None:
    """The checkpoint a completed stage handed on; None while the stage is not complete."""
    if stage == GRAFT:
        d = runs.stage_dir(recipe, GRAFT)
        return d if runs.read_complete(d) is not None or is_graft_output(d) else None
    done = runs.read_complete(runs.stage_dir(recipe, stage))
    if not done:
        return None
    key = "best_checkpoint" if pick == "best" else "checkpoint"
    value = done.get(key) or done.get("checkpoint")
    return recorded_checkpoint(recipe, stage, value) if value else None


def recorded_checkpoint(recipe, stage: str, value: str) -> Path:
    """A checkpoint named by `stage`'s completion record, read against the run directory in use.

    A stage only ever hands on its own output, so a record pointing outside the run directory comes from
    somewhere else: most often a run copied or moved with a record written before paths were recorded
    relative. Both paths are said. When this run holds its own copy of that checkpoint, at the place the
    stage writes it, that copy is used (what the record would say today); otherwise the recorded path is,
    as the record says, since refusing would leave only hand-editing JSON as the way on. The stage that
    trains from it fingerprints what it used (inputs.json), and a path that does not exist is refused
    where it is used (train, deploy)."""
    path = runs.recorded_path(recipe, value)
    if runs.within_run(recipe, path) is not None:
        return path
    record = runs.stage_dir(recipe, stage) / runs.COMPLETE
    own = _own_copy(runs.stage_dir(recipe, stage), path)
    if own is not None:
        warn(f"{record} names {path}, outside its run directory (the run was copied or moved since the record "
             f"was written); using this run's own {own}")
        return own
    warn(f"{record} names {path}, outside its run directory, which holds no copy of it; using it as recorded, "
         f"so what this run hands on changes when that does")
    return path


def _own_copy(stage_root: Path, path: Path) -> Path | None:
    """`path`'s twin under this run's stage directory (.../stage2/output/checkpoint-12 -> <run>/stage2/output/
    checkpoint-12), when it is there and whole."""
    parts = path.parts
    at = [i for i, part in enumerate(parts) if part == stage_root.name]
    if not at:
        return None
    twin = Path(os.path.abspath(stage_root.joinpath(*parts[at[-1] + 1:])))
    return twin if twin.is_dir() and not missing_files(twin) else None


def resolve_init(recipe, stage: str) -> tuple[str, bool]:
    """(model argument, resolved?). Unresolved means the previous stage has not completed yet."""
    src = init_source(recipe, stage)
    if src.explicit:
        return src.explicit, True
    if src.stage == GRAFT:
        return str(runs.stage_dir(recipe, GRAFT)), True
    ckpt = final_checkpoint(recipe, src.stage, src.pick)
    return (str(ckpt), True) if ckpt else (src.describe(), False)
