"""Evaluate checkpoints through their endpoints with EvalScope; one table of scores, saved as JSON and markdown.

EvalScope runs in a child process group (process.Managed), so Ctrl-C or SIGTERM stops it and then
the endpoint, leaving nothing behind. Its scores are read by results.py.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
import time
from pathlib import Path

from swiftplus.core import runs
from swiftplus.core.errors import UserError
from swiftplus.core.process import Managed, forwarding_signals
from swiftplus.core.secrets import KEY_ENV
from swiftplus.data import synthetic
from swiftplus.evaluate import local_sets
from swiftplus.evaluate.config import VLMEVALKIT, EvalTask, asks_anything, eval_tasks
from swiftplus.evaluate.perf import print_table
from swiftplus.evaluate.results import ScoreRow, failures, read_native, read_vlmevalkit, table, write_results
from swiftplus.recipe.schema import Recipe
from swiftplus.serve.command import served_model, served_name
from swiftplus.serve.endpoint import Endpoint
from swiftplus.serve.server import serving

# Runs every task config of one endpoint in a single interpreter: EvalScope's imports cost seconds.
# The API key comes from the environment into the configs' placeholders (secrets.PLACEHOLDER), never from disk.
RUNNER = ("import json, os, sys\nfrom evalscope.run import run_task\nfrom swiftplus.core.secrets import KEY_ENV, "
          "fill_placeholder\nrun_task(fill_placeholder(json.load(open(sys.argv[1])), os.environ.pop(KEY_ENV, 'EMPTY')))\n")


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
    return {local.name: str(local_sets.prepare(local, runs.eval_set_copy(recipe, local.name)))
            for local in recipe.eval.local}


def tasks_for(recipe: Recipe, endpoint: Endpoint, work_dir: Path, limit=None,
              local_paths: dict[str, str] | None = None, source: str | None = None) -> list[EvalTask]:
    tasks = eval_tasks(recipe, base_url=endpoint.base_url, model=endpoint.model, api_key=endpoint.api_key,
                       work_dir=work_dir, limit=limit, source=source)
    for task in tasks:
        if local_paths and task.label in local_paths and task.dataset != VLMEVALKIT:
            task.config["dataset_args"][task.dataset]["local_path"] = local_paths[task.label]
    return tasks


def check_backend(recipe: Recipe) -> None:
    if recipe.eval.backend == VLMEVALKIT and importlib.util.find_spec("vlmeval") is None:
        raise UserError("eval.backend is vlmevalkit, but VLMEvalKit is not installed; run "
                        "`pip install 'evalscope[vlmeval]'`, or use EvalScope's own benchmarks (eval.backend: native)")


def run_tasks(tasks: list[EvalTask], work_dir: Path, echo: bool = True, api_key: str | None = None) -> None:
    """All tasks in one EvalScope child process group; UserError with its last lines if it fails."""
    for task in tasks:  # stale reports of an earlier run must not be read as this run's
        shutil.rmtree(task.work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    config_file = work_dir / "tasks.json"
    runs.write_json_atomic(config_file, [t.config for t in tasks])
    log = work_dir / "evalscope.log"
    log.write_bytes(b"")
    managed = Managed([sys.executable, "-c", RUNNER, str(config_file)], env={KEY_ENV: api_key} if api_key else None,
                      log=log, echo=echo)
    with managed, forwarding_signals(managed):
        rc = managed.wait()
    if rc != 0:
        tail = "\n".join(list(managed.tail)[-20:])
        raise UserError(f"EvalScope failed (exit status {rc}); last lines of {log}:\n{tail}")


def evaluate_endpoint(recipe: Recipe, endpoint: Endpoint, work_dir: Path, *, label: str, limit=None,
                      local_paths: dict[str, str] | None = None, echo: bool = True) -> list[ScoreRow]:
    """Run the recipe's benchmarks asked of `label` against one endpoint; the rows of its reports."""
    tasks = tasks_for(recipe, endpoint, work_dir, limit, local_paths, source=label)
    if not tasks:
        raise UserError("the recipe's eval section names no benchmark: add eval.benchmarks or eval.local")
    run_tasks(tasks, work_dir, echo=echo, api_key=endpoint.api_key)
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
    # through --endpoint, what it serves is unknown unless named (--from): only then do `sources` apply to it
    labels = ["external" if url and s is None else source_label(recipe, s) for s in sources]
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
        if not asks_anything(recipe, label):
            print(f"evaluation: no benchmark is asked of {label} (see each benchmark's sources); skipped", flush=True)
            continue
        work_dir = runs.eval_dir(recipe) / label
        with serving(recipe, source, url=url, log_dir=work_dir, echo=False) as endpoint:
            rows += evaluate_endpoint(recipe, endpoint, work_dir, label=label, limit=limit, local_paths=local_paths,
                                      echo=echo)
    write_results(recipe, rows, {"sources": labels, "seconds": round(time.time() - started, 1), "limit": limit,
                                 **(meta or {})})
    return rows


def dry_run(recipe: Recipe, sources: list[str | None], limit=None) -> str:
    """The EvalScope task configs each source would get (the endpoint's port is chosen when it starts)."""
    require_eval(recipe)
    out = []
    for source in sources:
        label = source_label(recipe, source)
        endpoint = Endpoint("http://127.0.0.1:<port>/v1", served_name(recipe))
        tasks = tasks_for(recipe, endpoint, runs.eval_dir(recipe) / label, limit, source=label)
        out.append(f"# {label}: EvalScope task configs (the endpoint is started on a free loopback port)")
        out.append(json.dumps([t.config for t in tasks], indent=2))
    return "\n".join(out)


def choose_sources(compare: str | None, source: str | None) -> list[str | None]:
    """--compare a,b,c or --from SRC (None: the deploy default)."""
    if compare:
        if source:
            raise UserError("--from and --compare both choose what to evaluate; use one")
        chosen = [s.strip() for s in compare.split(",") if s.strip()]
        if not chosen:
            raise UserError("--compare needs a comma-separated list, e.g. graft,stage1,stage2")
        return chosen
    return [source]


def run_eval(recipe: Recipe, sources: list[str | None], *, url: str | None = None, limit=None) -> int:
    """`swiftplus eval`: evaluate, print the table and where the results are."""
    synthetic.ensure(recipe)
    rows = evaluate(recipe, sources, url=url, limit=limit)
    print_table(table(rows))
    for line in failures(rows):
        print(f"warning: {line}")
    out = runs.eval_dir(recipe)
    print(f"results: {out / 'results.json'} and {out / 'results.md'}")
    return 0
