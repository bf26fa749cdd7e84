"""The doctor's per-GPU memory estimate for one step of the real recipe, shown beside the rehearsal's measured
peak so a user sees whether the real run will fit.

The numbers are `swiftplus doctor`'s own (doctor/needs.py), for the real models (their config.json: local,
downloaded or in the doctor's table) and the processes the real run would start on this node: with
NPROC_PER_NODE unset, one per visible GPU, so on a machine without GPUs a training stage is sized for one.
"""
from __future__ import annotations

from typing import Mapping

from swiftplus.core import stages
from swiftplus.doctor import probe
from swiftplus.doctor.estimate import GIB
from swiftplus.doctor.models import Lookup
from swiftplus.doctor.run import stage_needs
from swiftplus.recipe.schema import Recipe

ESTIMATED = (*stages.TRAIN, stages.DEPLOY)  # the steps that hold a model on the GPU (graft and export run on CPU)


def doctor_estimate(recipe: Recipe, step: str, environ: Mapping[str, str], gpus: int,
                    lookup: Lookup | None = None) -> str | None:
    """The estimate for `step` of the real `recipe` at its real model size, per GPU and ready to print (e.g.
    "39.8 GiB (8 GPUs)"), with `gpus` visible on this node; None where the doctor has none. `lookup`: one
    probe.lookup_for(recipe.hub, environ) shared by every step, so each config.json is read once."""
    if step not in ESTIMATED or getattr(recipe, step, None) is None:
        return None
    needs = stage_needs(recipe, step, lookup or probe.lookup_for(recipe.hub, environ), environ, gpus, None)
    if not needs.memory:
        return None
    topo = needs.topology
    devices = (topo.nproc_per_node or 1) * topo.nnodes if topo is not None else needs.tensor_parallel
    return f"{sum(needs.memory.values()) / GIB:.1f} GiB ({devices} GPU{'s' if devices > 1 else ''})"
