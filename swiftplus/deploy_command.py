"""Recipe -> the `swift deploy` argv that serves a chosen checkpoint (pure)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from swiftplus import runs
from swiftplus.argv import flag_args
from swiftplus.errors import UserError
from swiftplus.recipe_schema import Recipe
from swiftplus.sft_command import plugin_paths, resolve_init

SOURCES = ("graft", "stage1", "stage2", "lora", "export")


@dataclass(frozen=True)
class ServedModel:
    source: str  # graft | stage1 | stage2 | lora | export | path
    model: str
    adapters: str | None
    resolved: bool  # False while the source stage has not completed (plan shows a placeholder)


def default_source(recipe: Recipe) -> str:
    for stage in ("stage2", "lora", "stage1", "graft"):
        if getattr(recipe, stage) is not None:
            return stage
    raise UserError("nothing to deploy: the recipe has no graft, stage1, stage2 or lora section; pass --from PATH")


def served_model(recipe: Recipe, source: str | None = None) -> ServedModel:
    if source in (None, "auto"):
        source = recipe.deploy.from_ if recipe.deploy is not None and recipe.deploy.from_ != "auto" else default_source(recipe)
    if source not in SOURCES:
        return path_model(recipe, source)
    if getattr(recipe, source) is None:
        raise UserError(f"cannot deploy from {source}: the recipe has no {source} section")
    if source == "graft":
        return ServedModel("graft", str(runs.stage_dir(recipe, "graft")), None, True)
    if source == "export":
        done = runs.read_complete(runs.stage_dir(recipe, "export"))
        path = done.get("checkpoint") if done else None
        return ServedModel("export", path or "<export: merged model>", None, bool(path))
    ckpt = runs.final_checkpoint(recipe, source)
    placeholder = f"<{source}: final checkpoint>"
    if source == "lora":
        base, ok = resolve_init(recipe, "lora")
        return ServedModel("lora", base, str(ckpt) if ckpt else placeholder, ok and ckpt is not None)
    return ServedModel(source, str(ckpt) if ckpt else placeholder, None, ckpt is not None)


def path_model(recipe: Recipe, path: str) -> ServedModel:
    """--from PATH: a full checkpoint, or a LoRA checkpoint served on top of its base model."""
    p = Path(path).expanduser()
    if (p / "adapter_config.json").is_file() and not (p / "config.json").is_file():
        if recipe.lora is not None:
            base, ok = resolve_init(recipe, "lora")
        else:
            base = json.loads((p / "adapter_config.json").read_text()).get("base_model_name_or_path")
            ok = bool(base)
        if not base:
            raise UserError(f"{p} holds LoRA adapters but names no base model (base_model_name_or_path in "
                            "adapter_config.json); add a lora section with init: BASE to the recipe")
        return ServedModel("path", str(base), str(p), ok)
    return ServedModel("path", str(p) if p.exists() else path, None, True)


def served_name(recipe: Recipe) -> str:
    if recipe.deploy is not None and recipe.deploy.flags.get("served_model_name"):
        return str(recipe.deploy.flags["served_model_name"])
    return recipe.name


def deploy_flags(recipe: Recipe, served: ServedModel, port: int | None = None) -> dict:
    section = recipe.deploy
    # No check_model here: it is a training flag; `swift deploy` rejects it as an unknown argument.
    flags: dict = {"model": served.model, "adapters": served.adapters, "infer_backend": "transformers"}
    flags.update(recipe.swift)
    if section is not None:
        flags.update(section.flags)
    flags.update(model=served.model, adapters=served.adapters, served_model_name=served_name(recipe))
    flags["host"] = section.host if section is not None else "127.0.0.1"
    flags["port"] = port if port is not None else (section.port if section is not None else 8000)
    if section is not None and section.api_key:
        flags["api_key"] = section.api_key
    plugins = plugin_paths(recipe)
    if plugins:
        flags["external_plugins"] = plugins
    return {k: v for k, v in flags.items() if v is not None}


def deploy_argv(recipe: Recipe, served: ServedModel, port: int | None = None, swift: str = "swift") -> list[str]:
    return [swift, "deploy", *flag_args(deploy_flags(recipe, served, port))]


def deploy_env(recipe: Recipe) -> dict[str, str]:
    env = {k: str(v) for k, v in recipe.env.items()}
    if recipe.deploy is not None:
        env.update({k: str(v) for k, v in recipe.deploy.env.items()})
    return env
