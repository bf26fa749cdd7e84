"""Evaluate checkpoints through their endpoints with EvalScope; one table of scores, saved as JSON and markdown.

EvalScope runs in a child process group (process.Managed), so Ctrl-C or SIGTERM stops it and then
the endpoint, leaving nothing behind. Scores come from EvalScope's own report files, read with its
Report class, never from its console output.
"""
from __future__ import annotations

import csv
import json
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from swiftplus import eval_data, runs
from swiftplus.deploy import Endpoint, serving
from swiftplus.deploy_command import served_model
from swiftplus.errors import UserError
from swiftplus.eval_config import VLMEVALKIT, EvalTask, eval_tasks
from swiftplus.recipe_schema import Recipe

# Runs every task config of one endpoint in a single interpreter: EvalScope's imports cost seconds.
RUNNER = "import json, sys\nfrom evalscope.run import run_task\nrun_task(json.load(open(sys.argv[1])))\n"
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


def eval_dir(recipe: Recipe) -> Path:
    return runs.run_root(recipe) / "eval"


def require_eval(recipe: Recipe) -> None:
    if recipe.eval is None:
        raise UserError(f"recipe {recipe.name} has no eval section: add eval.benchmarks or eval.local")


def source_label(recipe: Recipe, source: str | None) -> str:
    """A short, file-name-safe name for what is evaluated: the stage, or the checkpoint directory's name."""
    served = served_model(recipe, source)
    if served.source != "path":
        return served.source
    name = Path(served.adapters or served.model).name or "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def prepare_local_sets(recipe: Recipe) -> dict[str, str]:
    """Check every local set (files, media) before any server starts; name -> path for EvalScope."""
    if recipe.eval is None:
        return {}
    return {local.name: str(eval_data.prepare(local, eval_dir(recipe) / "data" / local.name))
            for local in recipe.eval.local}


def tasks_for(recipe: Recipe, endpoint: Endpoint, work_dir: Path, limit=None,
              local_paths: dict[str, str] | None = None) -> list[EvalTask]:
    tasks = eval_tasks(recipe, base_url=endpoint.base_url, model=endpoint.model, api_key=endpoint.api_key,
                       work_dir=work_dir, limit=limit)
    for task in tasks:
        if local_paths and task.label in local_paths and task.dataset != VLMEVALKIT:
            task.config["dataset_args"][task.dataset]["local_path"] = local_paths[task.label]
    return tasks


def check_backend(recipe: Recipe) -> None:
    import importlib.util

    if recipe.eval.backend == VLMEVALKIT and importlib.util.find_spec("vlmeval") is None:
        raise UserError("eval.backend is vlmevalkit, but VLMEvalKit is not installed; run "
                        "`pip install 'evalscope[vlmeval]'`, or use EvalScope's own benchmarks (eval.backend: native)")


def run_tasks(tasks: list[EvalTask], work_dir: Path, echo: bool = True) -> None:
    """All tasks in one EvalScope child process group; UserError with its last lines if it fails."""
    from swiftplus.process import Managed, forwarding_signals

    for task in tasks:  # stale reports of an earlier run must not be read as this run's
        shutil.rmtree(task.work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    config_file = work_dir / "tasks.json"
    runs.write_json_atomic(config_file, [t.config for t in tasks])
    log = work_dir / "evalscope.log"
    log.write_bytes(b"")
    managed = Managed([sys.executable, "-c", RUNNER, str(config_file)], log=log, echo=echo)
    with managed, forwarding_signals(managed):
        rc = managed.wait()
    if rc != 0:
        tail = "\n".join(list(managed.tail)[-20:])
        raise UserError(f"EvalScope failed (exit status {rc}); last lines of {log}:\n{tail}")


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


def evaluate_endpoint(recipe: Recipe, endpoint: Endpoint, work_dir: Path, *, label: str, limit=None,
                      local_paths: dict[str, str] | None = None, echo: bool = True) -> list[ScoreRow]:
    """Run the recipe's benchmarks against one endpoint; the rows of its reports."""
    tasks = tasks_for(recipe, endpoint, work_dir, limit, local_paths)
    if not tasks:
        raise UserError("the recipe's eval section names no benchmark: add eval.benchmarks or eval.local")
    run_tasks(tasks, work_dir, echo=echo)
    model = f"{endpoint.model} ({label})" if label != "external" else endpoint.model
    rows = []
    for task in tasks:
        reader = read_vlmevalkit if task.dataset == VLMEVALKIT else read_native
        rows += reader(task, model, label)
    return rows


def evaluate(recipe: Recipe, sources: list[str | None] | None = None, *, url: str | None = None, limit=None,
             echo: bool = True, meta: dict | None = None) -> list[ScoreRow]:
    """Evaluate each source (graft | stage1 | stage2 | lora | export | PATH; None = the deploy default) in turn,
    each through its own endpoint started and stopped here (or `url`), and save the table in the run dir."""
    require_eval(recipe)
    sources = sources or [None]
    if url and len(sources) > 1:
        raise UserError("--endpoint serves one model; it cannot be combined with --compare")
    labels = ["external" if url else source_label(recipe, s) for s in sources]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:  # one label is one work dir and one row of the table: a second would overwrite the first
        raise UserError(f"--compare: {', '.join(twice)} names more than one checkpoint (a path is named by its last "
                        f"directory); compare checkpoints whose directories are named differently")
    check_backend(recipe)
    if not recipe.eval.benchmarks and not recipe.eval.local:
        raise UserError(f"recipe {recipe.name}: the eval section names no benchmark; add eval.benchmarks or eval.local")
    local_paths = prepare_local_sets(recipe)
    rows: list[ScoreRow] = []
    started = time.time()
    for source, label in zip(sources, labels):
        work_dir = eval_dir(recipe) / label
        with serving(recipe, source, url=url, log_dir=work_dir, echo=False) as endpoint:
            rows += evaluate_endpoint(recipe, endpoint, work_dir, label=label, limit=limit, local_paths=local_paths,
                                      echo=echo)
    write_results(recipe, rows, {"sources": labels, "seconds": round(time.time() - started, 1), "limit": limit,
                                 **(meta or {})})
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
    out = eval_dir(recipe)
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
