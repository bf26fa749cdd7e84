"""Recipe + a running endpoint -> EvalScope task configs (pure).

Checked against EvalScope 1.14: `eval_type: openai_api` with `api_url` = the endpoint's `/v1` base
(a trailing `/chat/completions` is stripped by EvalScope too); a local set's `local_path` becomes the
benchmark's dataset_id, so no `dataset_id` may follow it (it would replace the path and send EvalScope
to the hub); reports land in `<work_dir>/reports/<model>/<benchmark>.json` when `no_timestamp` is set.
Each benchmark gets its own work_dir: two local sets of the same format would otherwise share one
report file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swiftplus.core.secrets import PLACEHOLDER
from swiftplus.recipe.schema import BenchmarkEntry, Recipe

LOCAL_DATASET = {"vmcq": "general_vmcq", "vqa": "general_vqa"}
VLMEVALKIT = "vlmevalkit"


@dataclass
class EvalTask:
    label: str  # what the table calls the benchmark: its EvalScope name, or the local set's name
    dataset: str  # the EvalScope benchmark (mmmu, general_vmcq, ...) or "vlmevalkit"
    config: dict  # an EvalScope TaskConfig as a dict
    work_dir: str


def normalize_limit(limit):
    """--limit 5 (read as 5.0) means five samples; EvalScope reads any float as a fraction of the set."""
    if isinstance(limit, float) and limit.is_integer() and limit >= 1:
        return int(limit)
    return limit


def asked(entry, source: str | None) -> bool:
    """Whether a benchmark or local set is asked of `source` (its `sources`, or every checkpoint)."""
    return not entry.sources or source in entry.sources


def asks_anything(recipe: Recipe, source: str | None) -> bool:
    """Whether any benchmark is asked of `source` (VLMEvalKit's one task is asked of every checkpoint)."""
    return recipe.eval.backend == VLMEVALKIT or bool(_benchmarks(recipe, source))


def _benchmarks(recipe: Recipe, source: str | None = None) -> list[tuple[str, str, dict, object]]:
    """(label, EvalScope dataset, dataset_args, limit) per benchmark asked of `source`; local sets each become
    their own task."""
    ev = recipe.eval
    out = []
    for entry in ev.benchmarks:
        b = entry if isinstance(entry, BenchmarkEntry) else BenchmarkEntry(name=entry)
        if not asked(b, source):
            continue
        args = dict(b.args)
        if b.subsets:
            args["subset_list"] = list(b.subsets)
        out.append((b.name, b.name, args, b.limit))
    for local in ev.local:
        if not asked(local, source):
            continue
        args = {**local.args, "local_path": str(Path(local.path).expanduser().resolve())}
        if local.subsets:
            args["subset_list"] = list(local.subsets)
        out.append((local.name, LOCAL_DATASET[local.kind], args, None))
    return out


def eval_tasks(recipe: Recipe, *, base_url: str, model: str, api_key: str | None, work_dir: str | Path,
               limit=None, source: str | None = None) -> list[EvalTask]:
    """One EvalScope task per benchmark asked of `source` (or one VLMEvalKit task), talking to an
    OpenAI-compatible endpoint. A key is written as secrets.PLACEHOLDER: the EvalScope child fills it in from its
    environment, so the configs on disk and in `plan` never hold it."""
    ev = recipe.eval
    work_dir = Path(work_dir)
    if ev.backend == "vlmevalkit":
        wd = str(work_dir / VLMEVALKIT)
        cfg = vlmevalkit_config(recipe, base_url=base_url, model=model, api_key=api_key, work_dir=wd, limit=limit)
        return [EvalTask(VLMEVALKIT, VLMEVALKIT, cfg, wd)]
    tasks = []
    for label, dataset, args, own_limit in _benchmarks(recipe, source):
        wd = str(work_dir / label)
        cfg = {
            "model": model,
            "api_url": base_url,
            "api_key": PLACEHOLDER if api_key else "EMPTY",
            "eval_type": "openai_api",
            "datasets": [dataset],
            "dataset_args": {dataset: args} if args else {},
            "work_dir": wd,
            "no_timestamp": True,
        }
        chosen = next((x for x in (limit, own_limit, ev.limit) if x is not None), None)
        if chosen is not None:
            cfg["limit"] = normalize_limit(chosen)
        if ev.generation_config:
            cfg["generation_config"] = dict(ev.generation_config)
        cfg.update(ev.flags)
        tasks.append(EvalTask(label, dataset, cfg, wd))
    return tasks


def task_configs(recipe: Recipe, *, base_url: str, model: str, api_key: str | None, work_dir: str,
                 source: str | None = None) -> list[dict]:
    return [t.config for t in eval_tasks(recipe, base_url=base_url, model=model, api_key=api_key, work_dir=work_dir,
                                         source=source)]


def vlmevalkit_config(recipe: Recipe, *, base_url: str, model: str, api_key: str | None, work_dir: str,
                      limit=None) -> dict:
    """Seed 000's VLMEvalKit setup (MMMU_DEV_VAL, CustomAPIModel), pointed at the endpoint swiftplus started."""
    ev = recipe.eval
    names = [b if isinstance(b, str) else b.name for b in ev.benchmarks]
    model_cfg = {
        "api_base": f"{base_url.rstrip('/')}/chat/completions",
        "key": PLACEHOLDER if api_key else "EMPTY",
        "name": "CustomAPIModel",
        "type": model,
        "temperature": ev.generation_config.get("temperature", 0.0),
        "max_tokens": ev.generation_config.get("max_tokens", 512),
        "img_size": -1,
        "video_llm": False,
    }
    eval_config = {"data": names, "mode": "all", "model": [model_cfg], "reuse": False, "nproc": 16,
                   "judge": "exact_matching", "work_dir": work_dir}
    eval_config.update(ev.vlmevalkit)
    chosen = limit if limit is not None else ev.limit
    if chosen is not None:
        eval_config["limit"] = normalize_limit(chosen)
    return {"work_dir": work_dir, "eval_backend": "VLMEvalKit", "eval_config": eval_config, "no_timestamp": True}
