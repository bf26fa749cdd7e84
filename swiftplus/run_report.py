"""The run report: one markdown page per recipe run (graft proof, stages, loss curves, scores)."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from swiftplus import runs
from swiftplus.recipe_schema import Recipe


def _source_state(recipe: Recipe, source: str | None) -> dict:
    """What a source's scores depend on: the served checkpoint and when its stage completed."""
    from swiftplus.deploy_command import served_model

    served = served_model(recipe, source)
    state = {"source": source, "model": served.model, "adapters": served.adapters}
    if served.source == "graft":
        from swiftplus.graft import MARKER

        marker = Path(served.model) / MARKER
        state["marker"] = marker.read_text() if marker.is_file() else None
    elif served.source != "path":
        state["complete"] = runs.read_complete(runs.stage_dir(recipe, served.source))
    return state


def eval_fingerprint(recipe: Recipe, sources: list[str | None]) -> str:
    parts = {
        "sources": [_source_state(recipe, s) for s in sources],
        "eval": recipe.eval.model_dump(mode="json") if recipe.eval else None,
        "deploy": recipe.deploy.model_dump(mode="json", by_alias=True) if recipe.deploy else None,
        "swift": recipe.swift,
        "synthetic": recipe.synthetic.model_dump(mode="json") if recipe.synthetic else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def pivot_cells(rows) -> tuple[list[str], list[list[str]]]:
    """One line per evaluated checkpoint, one column per benchmark subset (headline metric)."""
    rows = [r for r in rows if r.primary]
    multi = {r.benchmark for r in rows if r.subset == "OVERALL"}
    columns: list[str] = []
    for r in rows:
        if r.subset == "OVERALL":
            continue
        col = f"{r.benchmark}:{r.subset}" if r.benchmark in multi else r.benchmark
        if col not in columns:
            columns.append(col)
    by_source: dict[str, dict[str, str]] = {}
    for r in rows:
        if r.subset == "OVERALL":
            continue
        col = f"{r.benchmark}:{r.subset}" if r.benchmark in multi else r.benchmark
        label = r.source or r.model
        by_source.setdefault(label, {})[col] = "-" if r.score is None else f"{r.score:.3f}"
    lines = [[label] + [cells.get(c, "-") for c in columns] for label, cells in by_source.items()]
    return ["checkpoint"] + columns, lines


def pivot(rows) -> str:
    header, lines = pivot_cells(rows)
    widths = [max(len(x) for x in col) for col in zip(header, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), fmt.format(*["-" * w for w in widths])] + [fmt.format(*l) for l in lines])


def _markdown_table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(l) + " |" for l in lines]
    return "\n".join(out)


def _final_loss(output: Path) -> float | None:
    from swiftplus.loss_plot import read_series

    series = read_series(output / "logging.jsonl").get("loss") if (output / "logging.jsonl").is_file() else None
    return series[-1][1] if series else None


def _stage_lines(recipe: Recipe, root: Path) -> list[str]:
    lines = []
    for stage in ("stage1", "stage2", "lora"):
        if getattr(recipe, stage) is None:
            continue
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
    root = runs.run_root(recipe)
    lines = [f"# {recipe.name}: run report", "", f"{recipe.description or ''}".strip(), "",
             f"Written {time.strftime('%Y-%m-%d %H:%M:%S')}; this run took {seconds:.0f} s.", ""]
    graft_dir = runs.stage_dir(recipe, "graft")
    summary = graft_dir / "graft_summary.txt"
    if recipe.graft is not None:
        lines += ["## Graft", "", f"Output `{graft_dir}`; every tensor's fate in `graft_report.json`.", ""]
        if summary.is_file():
            lines += ["```", summary.read_text().rstrip(), "```", ""]
    stage_lines = _stage_lines(recipe, root)
    if stage_lines:
        lines += ["## Training", ""] + stage_lines
    if rows:
        header, table = pivot_cells(rows)
        lines += ["## Evaluation", "", _markdown_table(header, table), ""]
        if recipe.synthetic is not None:
            from swiftplus.synthetic import COLOURS

            lines += [f"Chance is {1 / len(COLOURS):.2f}: the `blank` subset asks the same questions over a grey "
                      "image, so a model that reads the pixels falls to chance there.", ""]
        lines += ["Every row, metric and sample count: `eval/results.md`.", ""]
    path = root / "report.md"
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".report.md.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
