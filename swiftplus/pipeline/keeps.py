"""The run report's answer to "what does the graft keep of the donor?", in the task's own scores.

The donor LLM alone and every graft of it (the recipe's own, and each of graft.also_into) answer the same text
questions. A lossless graft scores what the donor scores; a host that drops donor tensors (Qwen2.5-VL's
decoder has no QK-norm) shows here what the drop costs, beside the logit difference the graft proof measured.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swiftplus.core import runs, stages
from swiftplus.graft import REPORT


@dataclass(frozen=True)
class Graft:
    source: str  # graft, or graft-HOST
    template: str
    report: dict  # graft_report.json ({} when missing)


def grafts(recipe) -> list[Graft]:
    """The recipe's graft and its hosts' grafts, each with its graft report."""
    g = recipe.graft
    found = [(stages.GRAFT, runs.stage_dir(recipe, stages.GRAFT), g.template)]
    found += [(stages.host_source(h.name), runs.host_graft_dir(recipe, h.name), h.template) for h in g.also_into]
    return [Graft(source, template, _read(Path(directory) / REPORT)) for source, directory, template in found]


def _read(path: Path) -> dict:
    data = runs.read_json(path)  # None when missing or unreadable
    return data if isinstance(data, dict) else {}


def drops(report: dict) -> str:
    """What a graft dropped of the donor, by reason ("6 tensors (QK-norm)"), or "nothing"."""
    reasons = report.get("dropped_reasons") or {}
    dropped = report.get("dropped") or list(reasons)
    if not dropped:
        return "nothing"
    kinds = sorted({str(reasons.get(name, "")).split(":", 1)[0] or "allowed" for name in dropped})
    return f"{len(dropped)} tensors ({', '.join(kinds)})"


def logit_diff(report: dict) -> str:
    eq = report.get("text_equivalence") or {}
    return "-" if eq.get("max_abs_diff") is None else f"{eq['max_abs_diff']:.3g}"


def _scores(rows, source: str) -> dict[str, float | None]:
    """column -> headline score of one checkpoint (a benchmark, or benchmark:subset when it has several)."""
    mine = [r for r in rows if r.primary and r.source == source and r.subset != "OVERALL"]
    multi = {r.benchmark for r in rows if r.primary and r.subset == "OVERALL"}
    return {f"{r.benchmark}:{r.subset}" if r.benchmark in multi else r.benchmark: r.score for r in mine}


def _cell(score, donor) -> str:
    if score is None:
        return "-"
    return f"{score:.3f}" if donor is None else f"{score:.3f} ({score - donor:+.3f})"


def keeps_lines(rows, graft_list: list[Graft], donor_ref: str) -> list[str]:
    """Markdown: the donor's scores and each graft's on the same questions; [] when the donor was not scored."""
    donor = _scores(rows, stages.DONOR)
    columns = [c for c, score in donor.items() if score is not None]
    if not columns:
        return []
    head = ["checkpoint", "host VLM", "dropped from the donor", "logits vs donor (max abs diff)"]
    lines = ["| " + " | ".join(head + columns) + " |",
             "|" + "|".join(["---"] * len(head) + ["---:"] * len(columns)) + "|",
             "| " + " | ".join([stages.DONOR, f"none: `{donor_ref}` alone", "-", "-"] +
                               [_cell(donor[c], None) for c in columns]) + " |"]
    for g in graft_list:
        scores = _scores(rows, g.source)
        if not any(scores.get(c) is not None for c in columns):
            continue
        cells = [g.source, f"`{g.template}`", drops(g.report), logit_diff(g.report)]
        lines.append("| " + " | ".join(cells + [_cell(scores.get(c), donor[c]) for c in columns]) + " |")
    return lines


def keeps_section(recipe, rows) -> list[str]:
    """The report section, or [] without a graft or without the donor's scores."""
    if recipe.graft is None or not rows:
        return []
    table = keeps_lines(rows, grafts(recipe), recipe.graft.donor)
    if not table:
        return []
    intro = ("The donor LLM alone and each graft of it, asked the same text questions (in brackets: the difference "
             "from the donor). A lossless graft scores what the donor scores; what a host drops of the donor costs "
             "what its line loses.")
    return ["## What the graft keeps of the donor", "", intro, "", *table, "",
            "Every tensor's fate and the proof of each graft: `graft_report.json` in its directory.", ""]
