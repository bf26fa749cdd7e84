"""What a rehearsal is: the machine it runs on, the rehearsal recipe, every substitution it makes and the data
it needs written. command.py decides them; run.py carries them out."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Kinds of substitution: tiny models, a data sample, a few steps, a few questions (every machine); the CPU
# equivalent of a setting that needs a GPU (machines without one); a part of the real run not rehearsed here.
SCALE, CPU, MISSING = "scale", "cpu", "missing"


@dataclass(frozen=True)
class Machine:
    gpus: int  # CUDA devices visible
    cpus: int
    hub_reachable: bool  # can datasets and benchmarks be fetched from the recipe's hub


@dataclass(frozen=True)
class Substitution:
    kind: str  # scale | cpu | missing
    where: str  # the recipe key, e.g. stage1.attn_impl
    was: str
    now: str
    why: str


@dataclass(frozen=True)
class Sample:
    """The first `rows` rows of a local dataset, copied to `dest` (the rows training lints and converts)."""

    source: str
    dest: str
    rows: int


@dataclass(frozen=True)
class Synthetic:
    """A generated set in a recipe format standing in for data that is not here."""

    dest: str
    format: str  # swift | llava | vision-tag | cauldron | vmcq (an EvalScope general_vmcq directory)
    rows: int


@dataclass
class Rehearsal:
    data: dict  # the rehearsal recipe, a recipe mapping (recipe.load validates it like any recipe)
    environ: dict[str, str]  # the environment its steps see (topology and launcher variables)
    work: Path  # its run directory
    substitutions: list[Substitution] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    synthetic: list[Synthetic] = field(default_factory=list)
    fixtures: list[tuple[str, str]] = field(default_factory=list)  # (fixture, directory) a stage's init needs
    backend: str | None = None  # the recipe's own infer_backend, checked against the family even when replaced

    @property
    def not_rehearsed(self) -> list[Substitution]:
        return [s for s in self.substitutions if s.kind == MISSING]


def render_substitutions(r: Rehearsal, name: str) -> str:
    """The substitution list, grouped by kind, as printed before the rehearsal starts and kept in its report."""
    titles = {SCALE: "scaled down (tiny models, a data sample, a few steps)",
              CPU: "CPU equivalents (no GPU on this machine)",
              MISSING: "NOT rehearsed here (a stand-in keeps the rest running)"}
    lines = [f"rehearsal of {name}: what differs from the real run"]
    for kind, title in titles.items():
        subs = [s for s in r.substitutions if s.kind == kind]
        if not subs:
            continue
        lines.append(f"  {title}:")
        for s in subs:
            lines.append(f"    {s.where}: {s.was} -> {s.now}  ({s.why})")
    if len(lines) == 1:
        lines.append("  nothing")
    return "\n".join(lines)
