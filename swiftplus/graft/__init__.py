"""The graft: template VLM (vision tower + projector + processor) + donor LLM -> a new HF checkpoint.

    graft(template_dir, donor_dir, output_dir) -> GraftResult

command.py decides (family, config rewrite, token checks, weight plan, fingerprint: every refusal comes
before a byte is written); run.py executes that plan: weights streamed as byte ranges into a temporary
sibling directory, proven, renamed into place.
"""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Callable

from swiftplus.graft.command import GraftOptions, plan_graft
from swiftplus.graft.run import MARKER, PLAN, REPORT, SUMMARY, GraftResult, Watch, run_graft

__all__ = ["MARKER", "PLAN", "REPORT", "SUMMARY", "GraftResult", "graft"]


def graft(template_dir, donor_dir, output_dir, *, host: str = "template", family: str | None = None,
          merger_init: str = "random",
          allow_dropped: tuple[str, ...] | list[str] = (), seed: int = 0, proof: bool = True,
          proof_layers: int | None = None, max_shard_bytes: int = 5 << 30,
          log: Callable[[str], None] = print, watch: Watch = nullcontext) -> GraftResult:
    """Graft donor_dir's LLM into template_dir's VLM, writing output_dir atomically (see module doc).

    host: whose decoder architecture carries the donor's weights, the template's or the donor's own
    (families/__init__.py); family: the graft family by name (default: the one that takes the
    template's model_type with that host). The family's name is part of the fingerprint.
    watch(phase): a context around each phase (plan, write, text proof, load check, vision reachability)."""
    options = GraftOptions(host=host, family=family, merger_init=merger_init, allow_dropped=tuple(allow_dropped),
                           seed=seed, proof=proof, proof_layers=proof_layers, max_shard_bytes=max_shard_bytes)
    with watch("plan"):
        plan = plan_graft(Path(template_dir), Path(donor_dir), options)
    return run_graft(plan, Path(output_dir), log=log, watch=watch)
