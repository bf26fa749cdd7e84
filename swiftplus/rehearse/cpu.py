"""CPU equivalents: what a machine without GPUs runs instead of the recipe's settings that need one (pure).

Each is a substitution of kind `cpu` (the same code path on CPU kernels) or `missing` (no CPU equivalent, so
that part is not rehearsed here). On a machine with GPUs nothing here changes anything.
"""
from __future__ import annotations

from typing import Callable

from swiftplus.core import stages
from swiftplus.core.choices import BACKEND_PACKAGES
from swiftplus.recipe.schema import Recipe
from swiftplus.rehearse.rehearsal import CPU, MISSING, Rehearsal
from swiftplus.train.topology import needs_launcher, topology_for

HALF_DTYPES = ("bfloat16", "float16", "bf16", "fp16")
# Processes per node where the real run starts one per visible GPU (DeepSpeed or several nodes, NPROC_PER_NODE
# unset): two ranks take every collective and the sharded sampler that eight do, at a quarter of the memory.
CPU_RANKS = 2
CPU_ANSWER_TOKENS = 16  # tokens per answer: a tiny random model on CPU writes a few a second, always to the limit
Sub = Callable[[str, str, object, object, str], None]  # (kind, where, was, now, why)


def cpu_equivalents(recipe: Recipe, out: Rehearsal, cpus: int, sub: Sub) -> None:
    d = out.data
    for name in ("swift", *stages.TRAIN, stages.EXPORT, stages.DEPLOY):
        if isinstance(d.get(name), dict):
            _flags(name, d[name], sub)
    for stage in stages.TRAIN:
        if d.get(stage):
            _topology(recipe, stage, out, cpus, sub)
    _environ(out, cpus, sub)
    deploy = d.get(stages.DEPLOY)
    backend = deploy.get("infer_backend") if deploy else None
    if backend in BACKEND_PACKAGES:
        deploy["infer_backend"] = "transformers"
        sub(MISSING, "deploy.infer_backend", backend, "transformers",
            f"{backend} needs a GPU: the transformers backend serves the same checkpoint and template, and "
            f"{backend}'s support of the family is checked, but {backend} itself does not load it")
    _answers(d.get(stages.EVAL), sub)


def _flags(name: str, section: dict, sub: Sub) -> None:
    dtype = section.get("torch_dtype")
    if dtype in HALF_DTYPES:
        section["torch_dtype"] = "float32"
        sub(CPU, f"{name}.torch_dtype", dtype, "float32", "CPU kernels compute in float32")
    attn = section.get("attn_impl")
    if isinstance(attn, str) and attn.startswith("flash"):
        section["attn_impl"] = "sdpa"
        sub(CPU, f"{name}.attn_impl", attn, "sdpa", "flash-attention kernels need CUDA")
    for flag in ("bf16", "fp16"):
        if section.get(flag):
            section.pop(flag)
            sub(CPU, f"{name}.{flag}", "true", "(unset)", "mixed precision needs a GPU")
    if section.get("deepspeed"):
        sub(MISSING, f"{name}.deepspeed", section.pop("deepspeed"), "(none: plain DDP)",
            "DeepSpeed needs CUDA; its sharding and its fit with the freeze settings are rehearsed only on a GPU node")


def _topology(recipe: Recipe, stage: str, out: Rehearsal, cpus: int, sub: Sub) -> None:
    """The real launcher with CPU processes talking gloo instead of NCCL: the recipe's or the environment's
    process count, at most one per core; CPU_RANKS where the real run takes one per visible GPU."""
    topo = topology_for(recipe, stage, out.environ, gpus=0)
    section = out.data[stage]
    nproc = topo.nproc_per_node
    if nproc is None and needs_launcher(recipe, stage, topo, gpus=0):
        nproc = min(CPU_RANKS, max(1, cpus))
        section.setdefault("env", {})["NPROC_PER_NODE"] = nproc
        sub(CPU, f"{stage}.env.NPROC_PER_NODE", "unset (one process per visible GPU)", nproc,
            f"no GPU here: {nproc} CPU process(es) stand in for the GPUs' ranks: the same launcher, rendezvous and "
            "all-reduce")
    elif nproc is not None and nproc > cpus and "NPROC_PER_NODE" not in out.environ:
        capped = max(1, cpus)
        section.setdefault("env", {})["NPROC_PER_NODE"] = capped
        sub(CPU, f"{stage}.env.NPROC_PER_NODE", nproc, capped, f"one CPU process per GPU, at most one per core "
            f"({cpus}): the same launcher, rendezvous and all-reduce")
        nproc = capped
    if ((nproc or 1) > 1 or topo.nnodes > 1) and section.get("ddp_backend") != "gloo":
        sub(CPU, f"{stage}.ddp_backend", section.get("ddp_backend") or "nccl", "gloo",
            "NCCL needs GPUs; gloo runs the same collectives on CPU")
        section["ddp_backend"] = "gloo"


def _environ(out: Rehearsal, cpus: int, sub: Sub) -> None:
    raw = out.environ.get("NPROC_PER_NODE")
    if raw and raw.isdigit() and int(raw) > cpus:
        out.environ["NPROC_PER_NODE"] = str(max(1, cpus))
        sub(CPU, "NPROC_PER_NODE (environment)", raw, out.environ["NPROC_PER_NODE"],
            f"one CPU process per GPU, at most one per core ({cpus})")


def _answers(ev: dict | None, sub: Sub) -> None:
    if not ev:
        return
    gen = ev.setdefault("generation_config", {})
    was = gen.get("max_tokens")
    if was is None or int(was) > CPU_ANSWER_TOKENS:
        gen["max_tokens"] = CPU_ANSWER_TOKENS
        sub(CPU, "eval.generation_config.max_tokens", "unset" if was is None else was, CPU_ANSWER_TOKENS,
            "CPU generation is slow; an answer's length does not change the code path")
