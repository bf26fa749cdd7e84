"""Recipe -> which checkpoint is served and the `swift deploy` argv and environment that serve it (pure:
reads only completion markers). `plan` prints launch() and server.py starts exactly it."""
from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path

from swiftplus.core import lineage, runs, stages
from swiftplus.core.argv import flag_args
from swiftplus.core.checkpoints import is_graft_output
from swiftplus.core.choices import SERVE_ATTN_IMPL
from swiftplus.core.errors import UserError
from swiftplus.core.lineage import resolve_init
from swiftplus.core.secrets import KEY_ENV
from swiftplus.core.stages import DONOR, EXPORT, GRAFT, LORA
from swiftplus.graft.recipe import model_reference
from swiftplus.plugins import plugin_paths
from swiftplus.recipe.schema import Recipe

DEFAULT_HOST, DEFAULT_PORT, DEFAULT_READY_TIMEOUT = "127.0.0.1", 8000, 900.0
KEYED_DEPLOY = "swiftplus.serve.keyed"


@dataclass(frozen=True)
class ServedModel:
    source: str  # a stage of stages.SOURCES, donor, graft-HOST, or path
    model: str
    adapters: str | None
    resolved: bool  # False while the source stage has not completed (plan shows a placeholder)
    swift: dict = field(default_factory=dict)  # flags that replace the recipe's swift ones (the donor's own type)


def default_source(recipe: Recipe) -> str:
    for stage in stages.present(recipe, stages.DEPLOY_DEFAULT):
        return stage
    raise UserError("nothing to deploy: the recipe has no graft, stage1, stage2 or lora section; pass --from PATH")


def deploy_source(recipe: Recipe, source: str | None = None) -> str:
    """What deploy serves: --from, else deploy.from, else (auto) the last stage the recipe builds."""
    if source not in (None, "auto"):
        return source
    chosen = recipe.deploy.from_ if recipe.deploy is not None else "auto"
    return chosen if chosen != "auto" else default_source(recipe)


def served_model(recipe: Recipe, source: str | None = None) -> ServedModel:
    """The checkpoint (and adapters) `source` names, as `swift deploy` is given it (deploy_source's default)."""
    source = deploy_source(recipe, source)
    if source == DONOR:
        return donor_model(recipe)
    host = stages.host_name(recipe, source)
    if host is not None:
        entry = next(h for h in recipe.graft.also_into if h.name == host)
        out = runs.host_graft_dir(recipe, host)
        return ServedModel(source, str(out), None, is_graft_output(out), dict(entry.swift))
    if source not in stages.SOURCES:
        return path_model(recipe, source)
    if getattr(recipe, source) is None:
        raise UserError(f"cannot deploy from {source}: the recipe has no {source} section")
    if source == GRAFT:
        return ServedModel(GRAFT, str(runs.stage_dir(recipe, GRAFT)), None, True)
    ckpt = lineage.final_checkpoint(recipe, source)
    if source == EXPORT:
        return ServedModel(EXPORT, str(ckpt) if ckpt else "<export: merged model>", None, ckpt is not None)
    placeholder = f"<{source}: final checkpoint>"
    if source == LORA:
        base, ok = resolve_init(recipe, LORA)
        return ServedModel(LORA, base, str(ckpt) if ckpt else placeholder, ok and ckpt is not None)
    return ServedModel(source, str(ckpt) if ckpt else placeholder, None, ckpt is not None)


def donor_model(recipe: Recipe) -> ServedModel:
    """The graft's donor LLM alone, with its own model type and template (graft.donor_swift)."""
    if recipe.graft is None:
        raise UserError("cannot serve the donor: the recipe has no graft section")
    if not recipe.graft.donor_swift:
        raise UserError("cannot serve the donor: set graft.donor_swift to its ms-swift model_type and template, "
                        "e.g. {model_type: qwen3, template: qwen3}")
    return ServedModel(DONOR, model_reference(recipe.graft.donor), None, True, dict(recipe.graft.donor_swift))


def path_model(recipe: Recipe, path: str) -> ServedModel:
    """--from PATH: a full checkpoint, or a LoRA checkpoint served on top of its base model."""
    p = Path(path).expanduser()
    if (p / "adapter_config.json").is_file() and not (p / "config.json").is_file():
        if recipe.lora is not None:
            base, ok = resolve_init(recipe, LORA)
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


def deploy_flags(recipe: Recipe, served: ServedModel, port: int | None = None, host: str | None = None,
                 api_key: str | None = None) -> dict:
    section = recipe.deploy
    # No check_model here: it is a training flag; `swift deploy` rejects it as an unknown argument.
    flags: dict = {"model": served.model, "adapters": served.adapters, "infer_backend": "transformers"}
    flags.update(recipe.swift)
    flags.update(served.swift)
    if section is not None:
        flags.update(section.flags)
    flags.update(model=served.model, adapters=served.adapters, served_model_name=served_name(recipe))
    if flags.get("infer_backend") == "transformers":  # the only engine that reads attn_impl
        flags.setdefault("attn_impl", SERVE_ATTN_IMPL)
    flags["host"] = host or (section.host if section is not None else DEFAULT_HOST)
    flags["port"] = port if port is not None else (section.port if section is not None else DEFAULT_PORT)
    key = api_key or (section.api_key if section is not None else None)
    if key:
        flags["api_key"] = key
    plugins = plugin_paths(recipe.plugins)
    if plugins:
        flags["external_plugins"] = plugins
    return {k: v for k, v in flags.items() if v is not None}


@dataclass
class Launch:
    """Everything decided before `swift deploy` starts: what plan prints and server.Server runs."""

    argv: list[str]
    env: dict[str, str]
    host: str
    port: int
    model: str  # the served model name clients send
    served: ServedModel
    api_key: str | None
    ready_timeout: float
    flags: dict = field(default_factory=dict)


def launch(recipe: Recipe, served: ServedModel, *, port: int | None = None, host: str | None = None,
           api_key: str | None = None, swift: str = "swift", python: str = "python") -> Launch:
    """`swift deploy FLAGS`; with an API key, `python -m swiftplus.serve.keyed FLAGS`, which hands the key
    to ms-swift's deploy_main from its environment, so it shows in no argv (ps) and no log."""
    flags = deploy_flags(recipe, served, port, host, api_key)
    section = recipe.deploy
    key = flags.get("api_key")
    env = deploy_env(recipe)
    if key:
        argv = [python, "-m", KEYED_DEPLOY, *flag_args({k: v for k, v in flags.items() if k != "api_key"})]
        env[KEY_ENV] = key
    else:
        argv = [swift, "deploy", *flag_args(flags)]
    return Launch(argv, env, str(flags["host"]), int(flags["port"]), served_name(recipe), served, key,
                  section.ready_timeout if section is not None else DEFAULT_READY_TIMEOUT, flags)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_bind_problem(recipe: Recipe, planned: Launch) -> str | None:
    """The server opens local file paths named in requests (images), so an endpoint reachable from other
    machines without a key lets any caller make it read this machine's files."""
    section = recipe.deploy
    if is_loopback(planned.host) or planned.api_key or (section is not None and section.allow_unauthenticated):
        return None
    return (f"deploy.host {planned.host} serves beyond this machine without an API key, and the server opens "
            f"local file paths named in requests. Set {KEY_ENV} (or deploy.api_key), bind 127.0.0.1, or set "
            "deploy.allow_unauthenticated: true if the network is yours alone")


def deploy_env(recipe: Recipe) -> dict[str, str]:
    env = {k: str(v) for k, v in recipe.env.items()}
    if recipe.deploy is not None:
        env.update({k: str(v) for k, v in recipe.deploy.env.items()})
    return env
