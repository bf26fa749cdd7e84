"""The doctor's per-GPU memory estimate for one step of the real recipe, shown beside the rehearsal's measured
peak so a user sees whether the real run will fit.

SEAM: `swiftplus doctor` (issue 12) owns the estimates; wire its estimator in here. Until then every
estimate is None and the table shows "-".
"""
from __future__ import annotations

from swiftplus.recipe.schema import Recipe


def doctor_estimate(recipe: Recipe, step: str) -> str | None:
    """The estimate for `step` (graft, stage1, stage2, lora, export, deploy, eval) of the real `recipe` at its
    real model size, per GPU and ready to print (e.g. "61.3 GiB"); None when no estimate is available."""
    return None
