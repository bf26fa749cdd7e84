"""Scores: EvalScope's and VLMEvalKit's report files read into rows, and the tables made of them.

Scores come from the tools' own report files (EvalScope's Report class), never from console output.
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from swiftplus.core import runs
from swiftplus.core.errors import UserError
from swiftplus.evaluate.config import EvalTask
from swiftplus.recipe.schema import Recipe

COLUMNS = ("model", "benchmark", "subset", "metric", "score", "samples")


@dataclass
class ScoreRow:
    model: str
    benchmark: str
    subset: str
    metric: str
    score: float | None
    samples: int | None
    errors: int = 0  # requests EvalScope counted as failed: their samples score 0
    source: str = ""
    primary: bool = True  # the report's headline metric (EvalScope's primary metric)


def read_native(task: EvalTask, model: str, source: str) -> list[ScoreRow]:
    """Rows of one EvalScope report: every subset of every scored metric, plus OVERALL when there are several."""
    from evalscope.report import Report

    found = sorted(Path(task.work_dir, "reports").glob(f"*/{task.dataset}.json"))
    if not found:
        raise UserError(f"EvalScope wrote no report for {task.label} (looked for {task.work_dir}/reports/*/"
                        f"{task.dataset}.json)")
    report = Report.from_json(str(found[0]))
    execution = report.execution_summary
    errors = execution.errored if execution else 0
    primary = report.primary_metric
    rows = []
    for metric in report.metrics:
        if getattr(metric.semantics.kind, "value", metric.semantics.kind) == "diagnostic":
            continue
        name = metric.semantics.metric_name or metric.name
        is_primary = primary is None or metric.identity == primary.identity
        subsets = [s for c in metric.categories for s in c.subsets if not s.is_aggregate]
        for s in subsets:
            rows.append(ScoreRow(model, task.label, s.name, name, s.score, s.num, errors, source, is_primary))
        if len(subsets) > 1:
            rows.append(ScoreRow(model, task.label, "OVERALL", name, metric.score, metric.num, errors, source,
                                 is_primary))
    return rows


def read_vlmevalkit(task: EvalTask, model: str, source: str) -> list[ScoreRow]:
    """VLMEvalKit's score sheets, as ms-vlmeval 0.0.20 writes them: `<model>_<DATASET>_acc.csv` (MCQ and VQA)
    or `_score.csv`, anywhere under the work dir, one row per split and a column per category beside
    `Overall`. Other sheets beside them (`_<group>_acc.csv`, `_acc_all.csv`) repeat those numbers and are
    not read."""
    names = list(task.config["eval_config"]["data"])
    rows = []
    for sheet in sorted(Path(task.work_dir).rglob("*.csv")):
        found = next(((d, m) for d in names for m in ("acc", "score") if sheet.stem.endswith(f"_{d}_{m}")), None)
        if found is None:
            continue
        dataset, metric = found
        with open(sheet, newline="", encoding="utf-8") as f:
            for record in csv.DictReader(f):
                split = record.pop("split", None) or record.pop("", None) or ""
                split = "" if split == "none" else split  # report_acc's name for "no split column"
                for column, value in record.items():
                    try:
                        score = float(value)
                    except (TypeError, ValueError):
                        continue
                    subset = column if not split else f"{split}/{column}"
                    rows.append(ScoreRow(model, dataset, subset, metric, score, None, 0, source,
                                         primary=column.lower() == "overall"))
    if not rows:
        raise UserError(f"VLMEvalKit wrote no <model>_<dataset>_acc.csv or _score.csv for {', '.join(names)} "
                        f"under {task.work_dir}; its log above says why")
    return rows


# -- output ---------------------------------------------------------------------------------------

def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _cells(row: ScoreRow) -> list[str]:
    return [row.model, row.benchmark, row.subset, row.metric, _score(row.score),
            "-" if row.samples is None else str(row.samples)]


def table(rows: list[ScoreRow]):
    from rich.table import Table

    t = Table(title="evaluation")
    for col in COLUMNS:
        t.add_column(col, justify="right" if col in ("score", "samples") else "left")
    for row in rows:
        t.add_row(*_cells(row))
    return t


def markdown(rows: list[ScoreRow]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---:" if c in ("score", "samples") else "---"
                                                             for c in COLUMNS) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def failures(rows: list[ScoreRow]) -> list[str]:
    seen = {(r.model, r.benchmark): r.errors for r in rows if r.errors}
    return [f"{model} on {bench}: {n} request(s) failed and scored 0 (see the EvalScope log)"
            for (model, bench), n in seen.items()]


def write_results(recipe: Recipe, rows: list[ScoreRow], meta: dict) -> tuple[Path, Path]:
    out = runs.eval_dir(recipe)
    data = {"recipe": recipe.name, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **meta,
            "rows": [asdict(r) for r in rows]}
    runs.write_json_atomic(out / "results.json", data)
    md = out / "results.md"
    tmp = md.with_name(f".{md.name}.tmp")
    tmp.write_text(f"# {recipe.name}: evaluation\n\n" + markdown(rows) +
                   "".join(f"\n- {line}" for line in failures(rows)) + "\n", encoding="utf-8")
    tmp.replace(md)
    return out / "results.json", md


def scores(rows: list[ScoreRow]) -> dict[str, dict[str, float | None]]:
    """{model: {benchmark: headline score}}: the primary metric, OVERALL when there are several subsets."""
    out: dict[str, dict[str, float | None]] = {}
    for row in rows:
        per = out.setdefault(row.model, {})
        if not row.primary:
            continue
        if row.benchmark not in per or row.subset == "OVERALL":
            per[row.benchmark] = row.score
    return out


def load_results(path: Path) -> list[ScoreRow]:
    data = json.loads(Path(path).read_text())
    return [ScoreRow(**r) for r in data["rows"]]


# -- one line per checkpoint, one column per benchmark subset -----------------------------------

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


def markdown_pivot(rows) -> str:
    header, lines = pivot_cells(rows)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(l) + " |" for l in lines]
    return "\n".join(out)
