"""Which inference backend can serve which architecture, asked before a server (or a rehearsal) starts.

A backend that cannot build an architecture fails minutes into `swift deploy`, after the weights load;
its registry says so up front. The tables below are read from the backends' own registries for the
architectures swiftplus builds and serves (vLLM: vllm/model_executor/models/registry.py; LMDeploy:
lmdeploy/pytorch/models/module_map.py). An architecture outside KNOWN is not judged here: the backend
itself decides when it starts.
"""
from __future__ import annotations

import json
from pathlib import Path

from swiftplus.core.errors import UserError

QWEN2_VL, QWEN2_5_VL, QWEN3_VL = ("Qwen2VLForConditionalGeneration", "Qwen2_5_VLForConditionalGeneration",
                                  "Qwen3VLForConditionalGeneration")
SMOLVLM, IDEFICS3 = "SmolVLMForConditionalGeneration", "Idefics3ForConditionalGeneration"
KNOWN = frozenset({QWEN2_VL, QWEN2_5_VL, QWEN3_VL, SMOLVLM, IDEFICS3})

SERVES: dict[str, frozenset[str]] = {
    "transformers": KNOWN,
    "vllm": KNOWN,
    "lmdeploy": frozenset({QWEN2_VL, QWEN2_5_VL, QWEN3_VL}),
}


def architectures(model_dir: str | Path) -> list[str]:
    """config.json's `architectures` of a local checkpoint; [] when it has none (a hub id, adapters)."""
    try:
        value = json.loads((Path(model_dir) / "config.json").read_text()).get("architectures")
    except (OSError, ValueError, AttributeError):
        return []
    return [a for a in value if isinstance(a, str)] if isinstance(value, list) else []


def backend_problem(backend: str, archs: list[str]) -> str | None:
    """Why `backend` cannot serve a model of these architectures, or None (it can, or it is not known here)."""
    known = [a for a in archs if a in KNOWN]
    serves = SERVES.get(backend)
    if serves is None or not known or any(a in serves for a in known):
        return None
    can = sorted(b for b, archs_ in SERVES.items() if any(a in archs_ for a in known))
    return f"{backend} cannot serve {known[0]}: its model registry has no such architecture (backends that can: " \
           f"{', '.join(can)})"


def check_backend_serves(backend: str, model_dir: str | Path, where: str = "deploy.infer_backend") -> None:
    problem = backend_problem(backend, architectures(model_dir))
    if problem:
        raise UserError(f"{where}: {problem}. Set {where} to one of those, e.g. --set {where}=vllm on GPUs or "
                        f"--set {where}=transformers on CPU")
