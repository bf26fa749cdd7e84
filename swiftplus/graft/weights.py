"""The weight plan as data: one row per target tensor, every donor tensor placed or named as dropped.

Pure: it reads names, dtypes and shapes (safetensors headers), never tensor data, and imports no torch.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from swiftplus.core.errors import UserError

if TYPE_CHECKING:
    from swiftplus.graft.families import Family, Layout
    from swiftplus.graft.safetensors_io import TensorInfo

Source = Literal["template", "donor", "zero", "fresh"]
MERGER_INITS = ("random", "crop-copy")


@dataclass(frozen=True)
class PlanRow:
    target: str
    source: Source
    source_name: str | None
    shape: tuple[int, ...]
    dtype: str
    note: str = ""


@dataclass(frozen=True)
class Dropped:
    name: str  # donor tensor name
    shape: tuple[int, ...]
    reason: str
    allowed: bool = False


@dataclass
class WeightPlan:
    rows: list[PlanRow]
    dropped: list[Dropped]
    replaced: list[str] = field(default_factory=list)  # the template's own LLM tensors, superseded by the donor
    unplanned: list[str] = field(default_factory=list)  # template tensors no rule places: a family bug or odd input
    unused: list[Dropped] = field(default_factory=list)  # template tensors the grafted model has no use for

    def names(self, source: Source) -> list[str]:
        return [r.target for r in self.rows if r.source == source]

    def table(self, condensed: bool = False) -> str:
        """The plan as a printable table (one line per target tensor, then dropped donor tensors).

        condensed: rows that differ only by layer/block index are folded into one line with a count."""
        rows = sorted(self.rows, key=lambda r: natural_key(r.target))
        if condensed:
            rows = _fold(rows)
        w = max([len(r.target) for r in rows] + [20])
        lines = [f"{'target tensor':<{w}}  {'source':<8}  {'shape':<18}  {'dtype':<5}  source name / note"]
        for r in rows:
            detail = r.source_name or ""
            if r.note:
                detail = f"{detail} ({r.note})" if detail else r.note
            lines.append(f"{r.target:<{w}}  {r.source:<8}  {str(list(r.shape)):<18}  {r.dtype:<5}  {detail}")
        for d in self.dropped:
            tag = "dropped (allowed)" if d.allowed else "DROPPED"
            lines.append(f"{d.name:<{w}}  {tag}  {list(d.shape)}  {d.reason}")
        for d in self.unused:
            lines.append(f"{d.name:<{w}}  unused    {list(d.shape)}  template tensor left out: {d.reason}")
        return "\n".join(lines)


def _fold(rows: list[PlanRow]) -> list[PlanRow]:
    groups: dict[tuple, list[PlanRow]] = {}
    for r in rows:
        key = (re.sub(r"\.\d+\.", ".*.", r.target), r.source, r.shape, r.dtype, r.note)
        groups.setdefault(key, []).append(r)
    out = []
    for (target, source, shape, dtype, note), members in groups.items():
        name = re.sub(r"\.\d+\.", ".*.", members[0].source_name) if members[0].source_name else None
        extra = f"x{len(members)}" if len(members) > 1 else ""
        out.append(PlanRow(target if extra else members[0].target, source,
                           name if extra else members[0].source_name, shape, dtype,
                           " ".join(x for x in (extra, note) if x)))
    return out


def natural_key(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _allowed(name: str, allow_dropped: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) for pat in allow_dropped)


def plan_weights(family: "Family", layout: "Layout", template: dict[str, "TensorInfo"],
                 donor: dict[str, "TensorInfo"], *, donor_hidden: int, merger_init: str = "random",
                 allow_dropped: tuple[str, ...] = (), unused_template: dict[str, str] | None = None,
                 new_tensors: list[tuple[str, tuple[int, ...], str]] = (), new_dtype: str = "BF16") -> WeightPlan:
    """Decide, for every tensor of the grafted checkpoint, where its bytes come from: the template's vision
    tower and projector, the donor's decoder, zeros for biases the host has and the donor lacks, and fresh
    tensors neither model has.

    unused_template: regex -> reason for template tensors the grafted model has no module for.
    new_tensors: (name, shape, note) of tensors neither model has, initialised fresh in new_dtype."""
    if merger_init not in MERGER_INITS:
        raise UserError(f"graft.merger_init is {merger_init!r}; use one of {', '.join(MERGER_INITS)}.")
    kept = _template_pass(family, layout, template, donor_hidden, merger_init, unused_template or {})
    hosted = _donor_pass(family, layout, donor, allow_dropped)
    zeros = _zero_bias_pass(family, layout, donor, {r.target for r in hosted.rows})
    fresh = [PlanRow(name, "fresh", None, tuple(shape), new_dtype, note) for name, shape, note in new_tensors]
    return WeightPlan(kept.rows + hosted.rows + zeros + fresh, hosted.dropped, kept.replaced, kept.unplanned,
                      kept.unused)


def _template_pass(family: "Family", layout: "Layout", template: dict[str, "TensorInfo"], donor_hidden: int,
                   merger_init: str, unused_template: dict[str, str]) -> WeightPlan:
    """The template's vision tower and projector kept (a projector output resized to the donor's width is
    fresh), its own LLM replaced, tensors it has no use for left out, and any other tensor unplanned."""
    plan = WeightPlan([], [])
    projector = [re.compile(p) for p in family.projector_out_patterns]
    left_out = [(re.compile(p), why) for p, why in unused_template.items()]
    for name, info in template.items():
        why = next((why for p, why in left_out if p.search(name)), None)
        if why:
            plan.unused.append(Dropped(name, info.shape, why, allowed=True))
        elif name.startswith(layout.text_prefix) and not name.startswith(layout.vision_prefixes) \
                or name == layout.lm_head:
            plan.replaced.append(name)
        elif name.startswith(layout.vision_prefixes):
            target = family.target_name(name)
            new_shape = (donor_hidden,) + info.shape[1:]
            if not any(p.search(name) for p in projector):
                plan.rows.append(PlanRow(target, "template", name, info.shape, info.dtype))
            elif new_shape == info.shape:
                plan.rows.append(PlanRow(target, "template", name, info.shape, info.dtype,
                                         "projector output already at the donor's width"))
            else:
                note = f"{merger_init}: output width {info.shape[0]} -> {donor_hidden}"
                plan.rows.append(PlanRow(target, "fresh", name if merger_init == "crop-copy" else None, new_shape,
                                         info.dtype, note))
        else:
            plan.unplanned.append(name)
    return plan


def _donor_pass(family: "Family", layout: "Layout", donor: dict[str, "TensorInfo"],
                allow_dropped: tuple[str, ...]) -> WeightPlan:
    """Every donor tensor hosted under the layout's text prefix, or named as dropped with the reason."""
    plan = WeightPlan([], [])
    unhosted = [(re.compile(p), why) for p, why in family.unhosted.items()]
    for name, info in donor.items():
        if name == "lm_head.weight":
            target = layout.lm_head
        elif name.startswith("model."):
            rel = name[len("model."):]
            why = next((why for p, why in unhosted if p.search(rel)), None)
            if why:
                plan.dropped.append(Dropped(name, info.shape, why, _allowed(name, allow_dropped)))
                continue
            target = layout.text_prefix + rel
        else:
            plan.dropped.append(Dropped(name, info.shape, "no place in the target model (not part of a causal "
                                        "LM's `model.*` / `lm_head`)", _allowed(name, allow_dropped)))
            continue
        plan.rows.append(PlanRow(target, "donor", name, info.shape, info.dtype))
    return plan


def _zero_bias_pass(family: "Family", layout: "Layout", donor: dict[str, "TensorInfo"],
                    hosted: set[str]) -> list[PlanRow]:
    """Biases the host decoder has and the donor lacks: their zero value equals the donor's absence."""
    rows = []
    for module in family.required_biases:
        pat = re.compile(rf"^model\.(layers\.\d+\.{re.escape(module)})\.weight$")
        for name, info in donor.items():
            m = pat.match(name)
            if not m:
                continue
            target = layout.text_prefix + m.group(1) + ".bias"
            if target not in hosted:
                rows.append(PlanRow(target, "zero", None, (info.shape[0],), info.dtype,
                                    "host has a bias the donor lacks; zero equals its absence"))
    return rows


def check_plan(plan: WeightPlan) -> None:
    """Refuse a plan that would lose or invent weights silently."""
    problems = []
    bad = [d for d in plan.dropped if not d.allowed]
    if bad:
        reasons = sorted({d.reason for d in bad})
        example = bad[0].name
        glob = re.sub(r"\.\d+\.", ".*.", example)
        problems.append(
            f"{len(bad)} donor tensor(s) would be dropped, e.g. {example}: " + "; ".join(reasons) +
            f". To accept the loss, list them in graft.allow_dropped (glob, e.g. '{glob}'); the report will "
            "measure how far the grafted LLM then is from the donor.")
    if plan.unplanned:
        problems.append(f"{len(plan.unplanned)} template tensor(s) match no rule of this family, e.g. "
                        f"{plan.unplanned[0]}; the template does not look like the family's hub or "
                        "transformers layout.")
    targets = [r.target for r in plan.rows]
    if len(set(targets)) != len(targets):
        dup = next(t for t in targets if targets.count(t) > 1)
        problems.append(f"two sources claim target tensor {dup}.")
    if problems:
        raise UserError("graft refused: " + " ".join(problems))
