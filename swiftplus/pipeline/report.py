"""The run report: one markdown page per recipe run (graft proof, stages, loss curves, scores)."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from swiftplus.core import runs, stages
from swiftplus.core.checkpoints import GRAFT_MARKER
from swiftplus.data.synthetic import COLOURS
from swiftplus.evaluate.results import markdown_pivot
from swiftplus.graft import SUMMARY
from swiftplus.pipeline.keeps import keeps_section
from swiftplus.recipe.schema import Recipe
from swiftplus.serve.command import served_model
from swiftplus.train.loss_plot import read_series


def _source_state(recipe: Recipe, source: str | None) -> dict:
    """What a source's scores depend on: the served checkpoint and when its stage completed. Checkpoints in the
    run are named relative to it, so a copied or moved run keeps its scores."""
    served = served_model(recipe, source)
    state = {"source": source, "model": _in_run(recipe, served.model), "adapters": _in_run(recipe, served.adapters),
             "swift": served.swift}
    if served.source == stages.GRAFT or stages.host_name(recipe, served.source):
        marker = Path(served.model) / GRAFT_MARKER
        state["marker"] = marker.read_text() if marker.is_file() else None
    elif served.source == stages.DONOR:  # a re-taught or re-downloaded donor has new bytes, and new write times
        state["files"] = {p.name: [p.stat().st_size, p.stat().st_mtime_ns]
                          for p in sorted(Path(served.model).glob("*")) if p.is_file()}
    elif served.source != "path":
        state["complete"] = runs.read_complete(runs.stage_dir(recipe, served.source))
    return state


def _in_run(recipe: Recipe, model: str | None) -> str | None:
    inside = runs.within_run(recipe, model) if model else None
    return inside.as_posix() if inside is not None else model


def eval_fingerprint(recipe: Recipe, sources: list[str | None]) -> str:
    parts = {
        "sources": [_source_state(recipe, s) for s in sources],
        "eval": recipe.eval.model_dump(mode="json") if recipe.eval else None,
        "deploy": recipe.deploy.model_dump(mode="json", by_alias=True) if recipe.deploy else None,
        "swift": recipe.swift,
        "synthetic": recipe.synthetic.model_dump(mode="json") if recipe.synthetic else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _final_loss(output: Path) -> float | None:
    series = read_series(output / "logging.jsonl").get("loss") if (output / "logging.jsonl").is_file() else None
    return series[-1][1] if series else None


def _stage_lines(recipe: Recipe, root: Path) -> list[str]:
    lines = []
    for stage in stages.present(recipe, stages.TRAIN):
        done = runs.read_complete(runs.stage_dir(recipe, stage)) or {}
        loss = _final_loss(runs.output_dir(recipe, stage))
        lines.append(f"### {stage}\n")
        lines.append(f"- checkpoint: `{done.get('checkpoint', 'not complete')}` (step {done.get('step', '-')})")
        lines.append(f"- final training loss: {loss:.4f}" if loss is not None else "- final training loss: -")
        png = runs.stage_dir(recipe, stage) / "loss.png"
        if png.is_file():
            lines.append(f"\n![{stage} loss]({png.relative_to(root)})")
        lines.append("")
    return lines


def write_report(recipe: Recipe, rows, *, seconds: float) -> Path:
    root = runs.report_path(recipe).parent
    lines = [f"# {recipe.name}: run report", "", f"{recipe.description or ''}".strip(), "",
             f"Written {time.strftime('%Y-%m-%d %H:%M:%S')}; this run took {seconds:.0f} s.", ""]
    graft_dir = runs.stage_dir(recipe, stages.GRAFT)
    summary = graft_dir / SUMMARY
    if recipe.graft is not None:
        lines += ["## Graft", "", f"Output `{graft_dir}`; every tensor's fate in `graft_report.json`.", ""]
        if summary.is_file():
            lines += ["```", summary.read_text().rstrip(), "```", ""]
    stage_lines = _stage_lines(recipe, root)
    if stage_lines:
        lines += ["## Training", ""] + stage_lines
    if rows:
        lines += keeps_section(recipe, rows)
        lines += ["## Evaluation", "", markdown_pivot(rows), ""]
        if recipe.synthetic is not None:
            lines += [f"Chance is {1 / len(COLOURS):.2f}: the `blank` subset asks the same questions over a grey "
                      "image, so a model that reads the pixels falls to chance there.", ""]
        lines += ["Every row, metric and sample count: `eval/results.md`.", ""]
    path = runs.report_path(recipe)
    runs.write_text_atomic(path, "\n".join(lines) + "\n")
    return path
