"""Recipe + a running endpoint -> EvalScope task configs (pure)."""
from __future__ import annotations

from pathlib import Path

from swiftplus.recipe_schema import BenchmarkEntry, Recipe

LOCAL_DATASET = {"vmcq": "general_vmcq", "vqa": "general_vqa"}


def _benchmark_tasks(recipe: Recipe) -> list[tuple[str, dict]]:
    """(dataset name, dataset_args) per benchmark; local sets each become their own task."""
    ev = recipe.eval
    out = []
    for entry in ev.benchmarks:
        b = entry if isinstance(entry, BenchmarkEntry) else BenchmarkEntry(name=entry)
        args = dict(b.args)
        if b.subsets:
            args["subset_list"] = b.subsets
        out.append((b.name, args, b.limit))
    for local in ev.local:
        args = {"local_path": str(Path(local.path).resolve()), "dataset_id": local.name}
        if local.subsets:
            args["subset_list"] = local.subsets
        out.append((LOCAL_DATASET[local.kind], args, None))
    return out


def task_configs(recipe: Recipe, *, base_url: str, model: str, api_key: str | None, work_dir: str) -> list[dict]:
    """One EvalScope TaskConfig dict per benchmark, talking to an OpenAI-compatible endpoint."""
    ev = recipe.eval
    if ev.backend == "vlmevalkit":
        return [vlmevalkit_config(recipe, base_url=base_url, model=model, api_key=api_key, work_dir=work_dir)]
    configs = []
    for name, args, limit in _benchmark_tasks(recipe):
        cfg = {
            "model": model,
            "api_url": base_url,
            "api_key": api_key or "EMPTY",
            "eval_type": "openai_api",
            "datasets": [name],
            "dataset_args": {name: args} if args else {},
            "work_dir": work_dir,
            "no_timestamp": True,
        }
        if limit is not None or ev.limit is not None:
            cfg["limit"] = limit if limit is not None else ev.limit
        if ev.generation_config:
            cfg["generation_config"] = dict(ev.generation_config)
        cfg.update(ev.flags)
        configs.append(cfg)
    return configs


def vlmevalkit_config(recipe: Recipe, *, base_url: str, model: str, api_key: str | None, work_dir: str) -> dict:
    """Seed 000's VLMEvalKit setup, pointed at the endpoint swiftplus started."""
    ev = recipe.eval
    names = [b if isinstance(b, str) else b.name for b in ev.benchmarks]
    model_cfg = {
        "api_base": f"{base_url.rstrip('/')}/chat/completions",
        "key": api_key or "EMPTY",
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
    if ev.limit is not None:
        eval_config.setdefault("limit", ev.limit)
    return {"work_dir": work_dir, "eval_backend": "VLMEvalKit", "eval_config": eval_config}
