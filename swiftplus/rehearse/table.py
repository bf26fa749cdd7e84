"""The rehearsal's verdict: one row per step (pass or fail, seconds, peak memory per GPU beside the doctor's
estimate for the real model size), the failure with its real error message and where to fix it, and the
markdown report that is all a rehearsal leaves behind."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from swiftplus.core import stages
from swiftplus.recipe.load import LoadedRecipe

PASS, FAIL, NOT_RUN = "pass", "FAIL", "not run"
ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?\w*(?:Error|Exception)\b:.*|^\s*error: .*", re.I)
# Errors of the launchers around the failing process (ms-swift's CLI, torchrun): they only say that it failed.
WRAPPERS = ("ChildFailedError", "CalledProcessError")


@dataclass
class StepResult:
    step: str
    status: str = NOT_RUN
    seconds: float | None = None
    peak_gib: list[float] | None = None  # per GPU, measured while the step ran (GPU machines only)
    estimate: str | None = None  # the doctor's, for the real model size
    error: str | None = None  # the real error message
    fix: str | None = None  # where to fix it
    log: list[str] = field(default_factory=list)  # the last lines of the failing tool's log
    note: str | None = None  # e.g. "on node 0"


def error_line(lines: list[str]) -> str | None:
    """The last line of a tool's output that states an error (a Python exception, an `error:` line)."""
    for line in reversed(lines):
        if ERROR_LINE.match(line) and not any(w in line for w in WRAPPERS):
            return line.strip()
    return None


def _memory(r: StepResult) -> str:
    return " ".join(f"{g:.1f}" for g in r.peak_gib) if r.peak_gib else "-"


def rows(results: list[StepResult]) -> list[list[str]]:
    out = [["step", "result", "seconds", "peak GiB per GPU", "doctor estimate (real size)"]]
    for r in results:
        status = r.status if r.note is None else f"{r.status} ({r.note})"
        out.append([r.step, status, f"{r.seconds:.1f}" if r.seconds is not None else "-", _memory(r),
                    r.estimate or "-"])
    return out


def render(results: list[StepResult]) -> str:
    table = rows(results)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)


def markdown(results: list[StepResult]) -> str:
    table = rows(results)
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    return "\n".join(lines)


def fix_pointer(real: LoadedRecipe, ref: str, stage: str, error: str) -> str:
    """Where to fix what a tool rejected: the recipe key whose name or value the error names, if one does."""
    section = getattr(real.recipe, stage, None)
    flags = dict(real.recipe.swift)
    if section is not None and hasattr(section, "flags"):
        flags.update(section.flags)
    named = [n for n in flags if re.search(rf"\b{re.escape(n)}\b", error)]
    named += [n for n, v in flags.items() if isinstance(v, str) and len(v) >= 4 and v in error]
    if named:
        name = named[0]
        key = f"{stage}.{name}" if section is not None and name in section.flags else f"swift.{name}"
        return (f"{key} ({flags[name]}) in {real.path} is what the error names; the real "
                f"`{stages.step_command(ref, stage)}` would stop the same way. Fix it and rehearse again.")
    return (f"the real `{stages.step_command(ref, stage)}` runs the same command and would stop the same way; "
            f"the log's last lines are in the rehearsal report. Fix the recipe or the environment and rehearse again.")


def failure(results: list[StepResult]) -> StepResult | None:
    return next((r for r in results if r.status == FAIL), None)


def explain(r: StepResult) -> str:
    """The failure, as printed under the table."""
    lines = [f"{r.step} failed: {r.error or 'see the log lines above'}"]
    if r.fix:
        lines.append(f"fix: {r.fix}")
    return "\n".join(lines)


def verdict(results: list[StepResult], not_rehearsed: list[str]) -> str:
    bad = failure(results)
    if bad is not None:
        return f"REHEARSAL FAILED at {bad.step}: the real run would stop there too."
    text = "rehearsal passed: every step ran."
    if not_rehearsed:
        text += " Not rehearsed here: " + "; ".join(not_rehearsed) + "."
    return text


def report(name: str, *, substitutions: str, results: list[StepResult], not_rehearsed: list[str],
           machine: str, seconds: float) -> str:
    lines = [f"# {name}: rehearsal", "",
             f"Written {time.strftime('%Y-%m-%d %H:%M:%S')} on {machine}; the rehearsal took {seconds:.0f} s.", "",
             f"**{verdict(results, not_rehearsed)}**", "", "## Steps", "", markdown(results), "",
             "## What differs from the real run", "", "```", substitutions, "```", ""]
    bad = failure(results)
    if bad is not None:
        lines += [f"## Failure: {bad.step}", "", "```", bad.error or "", "```", ""]
        if bad.fix:
            lines += [f"Fix: {bad.fix}", ""]
        if bad.log:
            lines += ["Last lines of its log:", "", "```", *bad.log, "```", ""]
    return "\n".join(lines)
