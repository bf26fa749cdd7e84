"""Which checkpoint a stage name or `init:` means: the stage chain, read from completion markers.

Training asks it where a stage starts; serving, export, the doctor, the plan and the rehearsal ask it what a
stage handed on. `recipe` is any object with the schema's sections and run paths (core imports nothing above
it). Pure but for reading completion markers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swiftplus.core import runs, stages
from swiftplus.core.checkpoints import is_graft_output
from swiftplus.core.errors import UserError
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
    return Path(value) if value else None


def resolve_init(recipe, stage: str) -> tuple[str, bool]:
    """(model argument, resolved?). Unresolved means the previous stage has not completed yet."""
    src = init_source(recipe, stage)
    if src.explicit:
        return src.explicit, True
    if src.stage == GRAFT:
        return str(runs.stage_dir(recipe, GRAFT)), True
    ckpt = final_checkpoint(recipe, src.stage, src.pick)
    return (str(ckpt), True) if ckpt else (src.describe(), False)
