"""Which inference backend can serve a checkpoint, asked before a server (or a rehearsal) starts.

A backend that cannot build an architecture fails minutes into `swift deploy`, after the weights load. Each family
declares which backends build its checkpoints' architectures and why the others cannot (graft/families: Serving,
read from the backends' own registries); this asks the family whose architecture a checkpoint's config.json
names. An architecture no family declares, or a backend no family judges, is left to the backend itself.

The architecture alone does not settle it where a backend hard-codes the decoder inside it (Serving.decoders:
vLLM's Idefics3, and so SmolVLM, builds a Llama decoder whatever text_config says), so a SmolVLM graft with a Qwen3
donor has no vLLM path although its architecture is registered there.
"""
from __future__ import annotations

from pathlib import Path

from swiftplus.core.configs import config_if_present
from swiftplus.core.errors import UserError
from swiftplus.graft.families import JUDGED, serving


def _config(model_dir: str | Path) -> dict:
    """A local checkpoint's config.json; {} where there is none (a hub id, adapters)."""
    return config_if_present(model_dir, "deploy") or {}


def architectures(model_dir: str | Path, config: dict | None = None) -> list[str]:
    """config.json's `architectures` of a local checkpoint; [] when it has none."""
    value = (_config(model_dir) if config is None else config).get("architectures")
    return [a for a in value if isinstance(a, str)] if isinstance(value, list) else []


def _refusal(backend: str, archs: list[str], text_model_type: str | None) -> tuple[str, list[str]] | None:
    """(why `backend` cannot serve these architectures (and decoder), the backends that can), or None."""
    known = [(a, f) for a in archs if (f := serving(a)) is not None]
    if backend not in JUDGED or not known:
        return None
    servable = [(a, f) for a, f in known if backend in f.serving.backends]
    fixed = [(a, f.serving.decoders[backend]) for a, f in servable if backend in f.serving.decoders]
    if servable and text_model_type and fixed and all(text_model_type != decoder for _, decoder in fixed):
        arch, decoder = fixed[0]
        return (f"{backend} cannot serve this {arch}: its implementation builds a {decoder} decoder, and this "
                f"checkpoint's text_config is {text_model_type}", ["transformers"])
    if servable:
        return None
    arch, family = known[0]
    can = sorted(b for b in JUDGED if any(b in f.serving.backends for _, f in known))
    return f"{backend} cannot serve {arch}: {family.serving.why_not(backend)}", can


def backend_problem(backend: str, archs: list[str], text_model_type: str | None = None) -> str | None:
    """Why `backend` cannot serve a model of these architectures (and decoder), or None (it can, or it is not
    known here)."""
    refusal = _refusal(backend, archs, text_model_type)
    return None if refusal is None else f"{refusal[0]} (backends that can: {', '.join(refusal[1])})"


def check_backend_serves(backend: str, model_dir: str | Path, where: str = "deploy.infer_backend") -> None:
    config = _config(model_dir)
    text = config.get("text_config")
    refusal = _refusal(backend, architectures(model_dir, config),
                       text.get("model_type") if isinstance(text, dict) else None)
    if refusal:
        why, can = refusal
        hint = f"--set {where}=vllm on GPUs or " if backend != "vllm" and "vllm" in can else ""
        raise UserError(f"{where}: {why} (backends that can: {', '.join(can)}). Set {where} to one of those, e.g. "
                        f"{hint}--set {where}=transformers")
