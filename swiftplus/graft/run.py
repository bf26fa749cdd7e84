"""The graft's shell: executes a GraftPlan (command.py) into output_dir, atomically.

The output is built in a temporary sibling directory, in phases (write, proofs, report), and renamed into
place only once complete and proven; its completion marker comes last. A run killed half-way leaves a
temporary directory that the next graft removes. `watch(phase)` wraps each phase (benchmarks/graft.py
measures each one's memory with it).
"""
from __future__ import annotations

import json
import os
import shutil
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Callable, ContextManager

from swiftplus.core.checkpoints import GRAFT_MARKER
from swiftplus.core.configs import optional_json
from swiftplus.core.errors import UserError
from swiftplus.core.process import interrupting_signals, process_running
from swiftplus.graft import report as report_mod
from swiftplus.graft.command import GraftPlan
from swiftplus.graft.proof import run_proof
from swiftplus.graft.safetensors_io import scan_checkpoint, write_checkpoint
from swiftplus.graft.tokenizer import write_tokenizer_files
from swiftplus.graft.weights import WeightPlan

MARKER = GRAFT_MARKER
REPORT = "graft_report.json"
SUMMARY = "graft_summary.txt"
PLAN = "weight_plan.txt"

Watch = Callable[[str], ContextManager]  # phase name -> a context around the phase (nullcontext: none)


@dataclass
class GraftResult:
    output_dir: Path
    family: str
    plan: WeightPlan
    report: dict
    skipped: bool = False  # True: a complete output from the same inputs already existed (no-op)
    swift: dict = field(default_factory=dict)  # swift_model_type, swift_template, swift_external_plugins


def run_graft(plan: GraftPlan, output_dir: Path, *, log: Callable[[str], None] = print,
              watch: Watch = nullcontext) -> GraftResult:
    output_dir = Path(output_dir)
    if output_dir.exists():
        return _existing(plan, output_dir, log)
    log(f"graft: family {plan.family.name} ({plan.layout.name} layout); {len(plan.weights.rows)} target tensors")
    log(plan.weights.table(condensed=True))
    tmp = _temp_dir(output_dir)
    # SIGTERM/SIGHUP unwind like Ctrl-C, so the temporary output is removed however the graft is stopped
    with interrupting_signals():
        tmp.mkdir()
        try:
            with watch("write"):
                _write_files(tmp, plan)
                _write_weights(tmp, plan)
            rep, summary = _report(tmp, plan, _prove(tmp, plan, log, watch))
            (tmp / MARKER).write_text(json.dumps(plan.marker(), indent=2) + "\n")
            os.rename(tmp, output_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    log(summary)
    return GraftResult(output_dir, plan.family.name, plan.weights, rep, swift=plan.swift)


def _existing(plan: GraftPlan, output_dir: Path, log: Callable[[str], None]) -> GraftResult:
    """An output already there: this plan's (nothing to do), or something a graft must not overwrite."""
    if not plan.made(optional_json(output_dir / MARKER, "graft output")):
        raise UserError(f"{output_dir} already exists and was not produced by this graft (different inputs or "
                        "options, or not a graft). Remove it or choose another output directory.")
    log(f"graft: {output_dir} is already complete for these inputs; nothing to do.")
    rep = optional_json(output_dir / REPORT, "graft output") or {}
    return GraftResult(output_dir, plan.family.name, plan.weights, rep, skipped=True, swift=plan.swift)


def _temp_dir(output_dir: Path) -> Path:
    """This process's temporary sibling of output_dir, after removing those of grafts that were killed."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    for p in output_dir.parent.glob(f".{output_dir.name}.tmp-*"):
        try:
            pid = int(p.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if not process_running(pid):
            shutil.rmtree(p, ignore_errors=True)
    tmp = output_dir.parent / f".{output_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def _write_files(out: Path, plan: GraftPlan) -> None:
    """Config, generation config, the donor's tokenizer, the chat template and the processor files."""
    (out / "config.json").write_text(json.dumps(plan.config, indent=2) + "\n")
    if plan.generation:
        (out / "generation_config.json").write_text(json.dumps(plan.generation, indent=2) + "\n")
    family = plan.family
    chat_template = None
    if not family.keep_template_chat_template:
        chat_template = (files("swiftplus.graft") / "templates" / family.chat_template_file).read_text()
    write_tokenizer_files(plan.template.dir, plan.donor.dir, out, chat_template=chat_template,
                          extra_special_tokens=plan.tokens.extra_special_tokens,
                          copy_processor=plan.processor is None)
    for name, content in (plan.processor or {}).items():
        (out / name).write_text(json.dumps(content, indent=2) + "\n")


def _write_weights(out: Path, plan: GraftPlan) -> None:
    write_checkpoint(out, plan.output_tensors(), plan.options.max_shard_bytes)
    (out / PLAN).write_text(plan.weights.table() + "\n")


def _prove(out: Path, plan: GraftPlan, log: Callable[[str], None], watch: Watch) -> dict:
    """The written tensor names against the serving engine's loader, then (unless proof is off) the proofs."""
    results = {"serving_names": plan.family.serving_check(list(scan_checkpoint(out)), plan.config)}
    if plan.options.proof:
        results.update(run_proof(out, plan.donor.dir, plan.family, plan.layout, layers=plan.options.proof_layers,
                                 log=log, watch=watch))
    return results


def _report(out: Path, plan: GraftPlan, proof: dict) -> tuple[dict, str]:
    """graft_report.json and its summary, written; refuses (UserError) an output its proofs do not bear out."""
    rep = report_mod.build_report(plan.family, plan.layout, plan.weights, plan.template.dir, plan.donor.dir,
                                  plan.template.config, plan.config, proof, plan.swift)
    (out / REPORT).write_text(json.dumps(rep, indent=2) + "\n")
    summary = report_mod.summary(rep)
    (out / SUMMARY).write_text(summary + "\n")
    report_mod.raise_if_unproven(rep)
    return rep, summary
