"""Which inference backend can serve which architecture, asked before a server (or a rehearsal) starts.

A backend that cannot build an architecture fails minutes into `swift deploy`, after the weights load;
its registry says so up front. The tables below are read from the backends' own registries for the
architectures swiftplus builds and serves (vLLM 0.33: vllm/model_executor/models/registry.py; LMDeploy:
lmdeploy/pytorch/models/module_map.py). An architecture outside KNOWN is not judged here: the backend
itself decides when it starts.

The architecture alone does not settle it where a backend hard-codes the decoder inside it: vLLM's Idefics3
(and so SmolVLM) builds a Llama decoder whatever text_config says (vllm/model_executor/models/idefics3.py),
so a SmolVLM graft with a Qwen3 donor has no vLLM path although its architecture is registered there.
"""
from __future__ import annotations

from pathlib import Path

from swiftplus.core.configs import config_if_present
from swiftplus.core.errors import UserError
from swiftplus.plugins.models import qwen2_5_vl_qwen3_vllm as donor_host_vllm

QWEN2_VL, QWEN2_5_VL, QWEN3_VL = ("Qwen2VLForConditionalGeneration", "Qwen2_5_VLForConditionalGeneration",
                                  "Qwen3VLForConditionalGeneration")
SMOLVLM, IDEFICS3 = "SmolVLMForConditionalGeneration", "Idefics3ForConditionalGeneration"
LLAVA = "LlavaForConditionalGeneration"  # the llava family: builds text_config's own decoder in every backend
DONOR_HOST = donor_host_vllm.ARCHITECTURE  # graft.host: donor; transformers through swiftplus's plugin
KNOWN = frozenset({QWEN2_VL, QWEN2_5_VL, QWEN3_VL, SMOLVLM, IDEFICS3, LLAVA, DONOR_HOST})

SERVES: dict[str, frozenset[str]] = {
    "transformers": KNOWN,
    # swiftplus's registration of DONOR_HOST joins once it has served on a GPU (validate refuses it until then)
    "vllm": KNOWN - ({DONOR_HOST} if not donor_host_vllm.SERVED_ON_GPU else set()),
    "lmdeploy": frozenset({QWEN2_VL, QWEN2_5_VL, QWEN3_VL, LLAVA}),
}

# (backend, architecture) -> the decoder model_type it builds regardless of text_config
FIXED_DECODER = {("vllm", SMOLVLM): "llama", ("vllm", IDEFICS3): "llama"}


def _config(model_dir: str | Path) -> dict:
    """A local checkpoint's config.json; {} where there is none (a hub id, adapters)."""
    return config_if_present(model_dir, "deploy") or {}


def architectures(model_dir: str | Path, config: dict | None = None) -> list[str]:
    """config.json's `architectures` of a local checkpoint; [] when it has none."""
    value = (_config(model_dir) if config is None else config).get("architectures")
    return [a for a in value if isinstance(a, str)] if isinstance(value, list) else []


def _refusal(backend: str, archs: list[str], text_model_type: str | None) -> tuple[str, list[str]] | None:
    """(why `backend` cannot serve these architectures (and decoder), the backends that can), or None."""
    known = [a for a in archs if a in KNOWN]
    serves = SERVES.get(backend)
    if serves is None or not known:
        return None
    servable = [a for a in known if a in serves]
    fixed = [(a, FIXED_DECODER[backend, a]) for a in servable if (backend, a) in FIXED_DECODER]
    if servable and text_model_type and fixed and all(text_model_type != decoder for _, decoder in fixed):
        arch, decoder = fixed[0]
        return (f"{backend} cannot serve this {arch}: its implementation builds a {decoder} decoder, and this "
                f"checkpoint's text_config is {text_model_type}", ["transformers"])
    if servable:
        return None
    can = sorted(b for b, archs_ in SERVES.items() if any(a in archs_ for a in known))
    return f"{backend} cannot serve {known[0]}: its model registry has no such architecture", can


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
