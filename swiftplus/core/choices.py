"""The values ms-swift accepts for flags it types as free strings, read from its source (no import).

`tuner_type`, `deepspeed` and `attn_impl` are plain `str` fields, so a misspelt value passes argument
parsing and fails minutes later, after the model loaded. The installed ms-swift defines the real sets
(get_supported_tuners, tuners_map, its config/zero*.json presets); attention implementations come from
transformers, whose names ms-swift passes through (plus its own `flash_attn` alias).
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from swiftplus.core.tools import module_file, parse_source

# transformers 5.x attention implementations (AttentionInterface) and ms-swift's alias for flash_attention_2;
# a hub kernel ("kernels-community/flash-attn") is passed through as it is.
ATTN_IMPLS = ("eager", "sdpa", "flex_attention", "flash_attn", "flash_attention_2", "flash_attention_3",
              "flash_attention_4", "paged_attention")
# swift deploy / export read training's args.json back and would reuse its attn_impl (flash_attn on a GPU box),
# which fails wherever flash-attn is missing; serving and merging choose their own. sdpa runs on CPU and GPU.
SERVE_ATTN_IMPL = "sdpa"
# `swift deploy --infer_backend` engines other than transformers -> the module each needs installed; all three
# serve on CUDA GPUs only (vLLM's CPU build is a separate package in a separate environment)
BACKEND_PACKAGES = {"vllm": "vllm", "sglang": "sglang", "lmdeploy": "lmdeploy"}


def _string_constants(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


@lru_cache(maxsize=None)
def tuner_types() -> tuple[str, ...] | None:
    """ms-swift's get_supported_tuners(): its built-in set plus tuners_map's keys; None when unreadable."""
    path = module_file("swift.arguments.base_args.base_args")
    mapping = module_file("swift.tuner_plugin.mapping")
    if path is None:
        return None
    found: set[str] = set()
    for node in parse_source(path).body:
        if isinstance(node, ast.FunctionDef) and node.name == "get_supported_tuners":
            for ret in ast.walk(node):
                if isinstance(ret, ast.Set):
                    found |= _string_constants(ret)
    if mapping is not None:
        for node in parse_source(mapping).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "tuners_map" for t in node.targets) \
                    and isinstance(node.value, ast.Dict):
                found |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    return tuple(sorted(found)) or None


@lru_cache(maxsize=None)
def deepspeed_presets() -> tuple[str, ...] | None:
    """The preset names `--deepspeed` maps to ms-swift's bundled config/zero*.json."""
    init = module_file("swift")
    if init is None:
        return None
    folder = Path(init).parent / "config"
    names = sorted(p.stem for p in folder.glob("zero*.json"))
    return tuple(names) or None


def deepspeed_problem(value) -> str | None:
    """Why a `deepspeed:` value would fail in ms-swift, or None. A preset name, a JSON file or inline JSON."""
    if isinstance(value, dict):
        return None
    text = str(value).strip()
    if text.startswith("{"):
        return None
    presets = deepspeed_presets()
    if presets is None or text in presets:
        return None
    if text.endswith(".json"):
        return None if Path(text).expanduser().is_file() else f"{text}: no such DeepSpeed config file"
    return f"must be one of ms-swift's presets ({', '.join(presets)}) or a DeepSpeed JSON file (got {text!r})"


def attn_impl_problem(value) -> str | None:
    text = str(value)
    if text in ATTN_IMPLS or "/" in text:
        return None
    return f"must be one of {', '.join(ATTN_IMPLS)} or a hub kernel id (got {text!r})"


def tuner_problem(value) -> str | None:
    known = tuner_types()
    if known is None or str(value) in known:
        return None
    return f"must be one of ms-swift's tuners ({', '.join(known)}) (got {value!r})"


# What ms-swift's Qwen3 hybrid templates write before every assistant turn they train on
# (swift/template/templates/qwen.py: Qwen3MixedTemplateMeta.non_thinking_prefix; base.py _add_non_thinking_prefix).
# tests/fixtures and tests/data hold it to ms-swift's own encoding.
QWEN3_NON_THINKING_PREFIX = "<think>\n\n</think>\n\n"
