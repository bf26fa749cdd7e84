"""Recipe -> what each stage needs from the machine: packages, GPUs and processes, device memory, disk.

Pure: model configs arrive through `lookup` (models.py), the GPUs through the stage's topology; nothing here
touches the disk or imports a tool.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from swiftplus.core import runs
from swiftplus.core.choices import BACKEND_PACKAGES
from swiftplus.core.lineage import init_source
from swiftplus.core.stages import DEPLOY, EVAL, EXPORT, GRAFT
from swiftplus.data.budget import TEMPLATES, TokenBudget
from swiftplus.data.prepare import is_local_dataset
from swiftplus.doctor import estimate as est
from swiftplus.doctor.known_models import DATASET_BYTES, DATASET_DEFAULT_BYTES
from swiftplus.doctor.models import (
    Lookup,
    Model,
    ModelInfo,
    model_for,
    model_of,
    served_size,
)
from swiftplus.recipe import flags as recipe_flags
from swiftplus.recipe.schema import Recipe
from swiftplus.train.topology import Topology

FLASH = {"flash_attn": "flash_attn", "flash_attention_2": "flash_attn", "flash_attention_3": "flash_attn_interface"}
SWIFT_DEFAULTS = {"freeze_vit": True, "freeze_llm": False, "freeze_aligner": True, "gradient_checkpointing": True,
                  "per_device_train_batch_size": 1, "lora_rank": 8, "target_modules": ["all-linear"]}
INSTALL_GPU = "`make install GPU=1` on a CUDA machine"
# flash-attn 2.8.3.post2 (PyPI's newest) compiles as C++17, which torch 2.14's headers refuse
# (Dao-AILab/flash-attention#2863); a prebuilt wheel from its GitHub releases may still fit.
INSTALL_FLASH = "`make install GPU=1` tries flash-attn (optional: it may not build for torch 2.14)"
UNSET_MAX_LENGTH = 2048  # swift's default is the model's context length; the data is rarely that long
VLLM_UTILIZATION = 0.9  # swift deploy's vllm_gpu_memory_utilization default
LARGEST_IMAGE = (4096, 4096)  # beyond every template's cap: the image-token count reaches the template's maximum


@dataclass(frozen=True)
class Package:
    module: str
    setting: str  # the recipe setting that asks for it
    install: str  # how to get it
    instead: str | None = None  # the override that does without it


@dataclass(frozen=True)
class Disk:
    path: Path
    bytes: float
    what: str
    key: str  # equal keys are one need (a download shared by two stages)


@dataclass
class StageNeeds:
    stage: str
    packages: list[Package] = field(default_factory=list)
    model: str = ""  # what the estimates are of
    gpu_required: str | None = None  # why this stage cannot run without a GPU
    cpu_instead: str = ""  # how to run it on the CPU instead, when it can
    topology: Topology | None = None
    deepspeed: str | None = None
    memory: dict[str, float] | None = None  # bytes per device by kind
    memory_limit: float = 1.0  # share of the device's memory the stage may use (vLLM's utilization)
    tensor_parallel: int = 1
    disk: list[Disk] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def hub_dataset(entry) -> str | None:
    """`Org/Name[:subset][#count]` as swift reads it -> Org/Name; None for a local file."""
    if not isinstance(entry, str) or is_local_dataset(entry):
        return None
    return re.split(r"[:#]", entry, maxsplit=1)[0]


def zero_stage(deepspeed) -> int | None:
    m = re.search(r"zero(\d)", str(deepspeed or ""))
    return int(m.group(1)) if m else None


def stage_flags(recipe: Recipe, stage: str) -> dict:
    """The swift sft flags that size a stage, with swift's defaults, in train/command.sft_flags' order."""
    return {**SWIFT_DEFAULTS, **recipe_flags.stage_flags(recipe, stage)}


def _download(info: ModelInfo, model: Model | None) -> list[Disk]:
    if info.download is None:
        return []
    size = model.params.total * model.dtype if model else None
    return [Disk(info.download, size or 0.0, f"download {info.ref}" + ("" if size else " (size unknown)"),
                 f"download:{info.ref}")]


def graft_needs(recipe: Recipe, lookup: Lookup) -> StageNeeds:
    needs = StageNeeds(GRAFT)
    for ref in (recipe.graft.template, recipe.graft.donor):
        info = lookup(ref)
        needs.disk += _download(info, model_of(info))
    model = model_for(recipe, GRAFT, lookup)
    if model is None:
        needs.notes.append("template or donor size unknown: the graft output is not estimated")
    else:
        needs.model = model.describe()
        # the tower is copied in the template's dtype (SigLIP's and CLIP's hub weights are float32)
        tower_dtype = est.dtype_bytes((lookup(recipe.graft.template).config or {}).get("torch_dtype"), model.dtype)
        size = model.params.total * model.dtype + model.params.vision * (tower_dtype - model.dtype)
        needs.disk.append(Disk(runs.stage_dir(recipe, GRAFT), size, "graft output", "graft"))
    return needs


def train_needs(recipe: Recipe, stage: str, topo: Topology, lookup: Lookup, dataset_cache: Path,
                environ: Mapping[str, str]) -> StageNeeds:
    flags = stage_flags(recipe, stage)
    needs = StageNeeds(stage, topology=topo, deepspeed=flags.get("deepspeed") or None)
    attn = str(flags.get("attn_impl") or "")
    if attn in FLASH:
        needs.packages.append(Package(FLASH[attn], f"{stage}.attn_impl: {attn}", INSTALL_FLASH,
                                      f"--set {stage}.attn_impl=sdpa"))
    if needs.deepspeed:
        needs.packages.append(Package("deepspeed", f"{stage}.deepspeed: {needs.deepspeed}", INSTALL_GPU))
    why = [f"DeepSpeed {needs.deepspeed}"] if needs.deepspeed else []
    why += [f"attn_impl {attn}"] if attn in FLASH else []
    needs.gpu_required = " and ".join(why) or None
    src = init_source(recipe, stage)
    if src.explicit:
        info = lookup(src.explicit)
        needs.disk += _download(info, model_of(info))
    for entry in [*getattr(recipe, stage).dataset, *getattr(recipe, stage).val_dataset]:
        name = hub_dataset(entry)
        if name:
            needs.disk.append(Disk(dataset_cache, DATASET_BYTES.get(name, DATASET_DEFAULT_BYTES),
                                   f"dataset {name} (allowance)", f"dataset:{name}"))
    model = model_for(recipe, stage, lookup)
    if model is None:
        needs.notes.append("model size unknown (no config.json it can read): memory and checkpoints are not estimated")
        return needs
    env = {**environ, **recipe_flags.stage_env(recipe, stage)}  # what the stage's swift process sees
    patches = image_patches(flags, env, model)
    training = training_of(model, flags, topo, patches)
    needs.model = model.describe(training.trainable)
    needs.memory = est.train_memory(training)
    if not flags.get("max_length"):
        needs.notes.append(f"max_length unset: activations sized for {UNSET_MAX_LENGTH} tokens per sample")
    if model.vision[0] and not patches:
        needs.notes.append(f"no image-token rule for template {flags.get('template')!r}: vision activations "
                           "are not in the estimate")
    lora = str(flags.get("tuner_type")) == "lora"
    per = est.checkpoint_bytes(training, lora=lora, save_only_model=_true(flags.get("save_only_model")))
    kept = est.kept_checkpoints(_int(flags.get("save_total_limit")), _int(flags.get("max_steps")),
                                _int(flags.get("save_steps")))
    if kept is None:
        needs.notes.append(f"save_total_limit unset: every save keeps another {per / est.GB:.1f} GB "
                           f"(counted once here); set {stage}.save_total_limit")
    count = kept or 1
    needs.disk.append(Disk(runs.output_dir(recipe, stage), per * count,
                           f"{count} checkpoint(s) x {per / est.GB:.1f} GB", f"checkpoints:{stage}"))
    return needs


def image_patches(flags: Mapping, env: Mapping[str, str], model: Model) -> int:
    """Patches of the largest image the stage's template lets through (MAX_PIXELS and the processor's caps);
    a fixed-resolution tower (LLaVA's) sees the same patches for every image."""
    if model.image_patches:
        return model.image_patches
    template, per_token = flags.get("template"), model.vision[2]
    if not per_token or template not in TEMPLATES or TEMPLATES[template].needs_model:
        return 0
    budget = TokenBudget.from_env(1, template, env)
    return budget.image_tokens(*LARGEST_IMAGE) * per_token


def training_of(model: Model, flags: Mapping, topo: Topology, patches: int = 0) -> est.Training:
    lora = str(flags.get("tuner_type")) == "lora"
    p = model.params
    if lora:
        trainable = est.lora_params(model.text, _int(flags.get("lora_rank")) or 8, flags.get("target_modules"))
    else:
        trainable = sum(n for n, frozen in ((p.vision, "freeze_vit"), (p.aligner, "freeze_aligner"),
                                            (p.llm, "freeze_llm")) if not _true(flags.get(frozen)))
    world = (topo.nproc_per_node or 1) * topo.nnodes
    dtype = est.dtype_bytes(flags.get("torch_dtype"), model.dtype)
    zero = zero_stage(flags.get("deepspeed")) if flags.get("deepspeed") else None
    checkpointing = _true(flags.get("gradient_checkpointing"))
    vit_checkpointing = flags.get("vit_gradient_checkpointing")  # swift: follows gradient_checkpointing when unset
    return est.Training(p, trainable, dtype, world, zero, _int(flags.get("per_device_train_batch_size")) or 1,
                        _int(flags.get("max_length")) or UNSET_MAX_LENGTH, checkpointing,
                        model.text["hidden_size"], model.text["num_hidden_layers"], model.text["vocab_size"],
                        patches, model.vision[0], model.vision[1],
                        vision_trainable=not lora and not _true(flags.get("freeze_vit")),
                        vision_checkpointing=checkpointing if vit_checkpointing is None else _true(vit_checkpointing))


def export_needs(recipe: Recipe, lookup: Lookup) -> StageNeeds:
    needs = StageNeeds(EXPORT)
    model = model_for(recipe, EXPORT, lookup)
    if model is not None:
        needs.model = model.describe()
        needs.disk.append(Disk(runs.stage_dir(recipe, EXPORT), model.params.total * model.dtype,
                               "merged model", "export"))
    return needs


def deploy_needs(recipe: Recipe, lookup: Lookup, source: str | None = None) -> StageNeeds:
    section = recipe.deploy
    flags = {**recipe.swift, **(section.flags if section is not None else {})}
    backend = str(flags.get("infer_backend") or "transformers")
    needs = StageNeeds(DEPLOY)
    if backend in BACKEND_PACKAGES:
        needs.packages.append(Package(BACKEND_PACKAGES[backend], f"deploy.infer_backend: {backend}", INSTALL_GPU,
                                      "--set deploy.infer_backend=transformers"))
    attn = str(flags.get("attn_impl") or "")
    if attn in FLASH:
        needs.packages.append(Package(FLASH[attn], f"deploy.attn_impl: {attn}", INSTALL_FLASH,
                                      "--set deploy.attn_impl=sdpa"))
    if backend == "vllm":
        needs.gpu_required = "infer_backend vllm"
        needs.cpu_instead = "; or serve on the CPU: --set deploy.infer_backend=transformers"
        needs.memory_limit = float(flags.get("vllm_gpu_memory_utilization") or VLLM_UTILIZATION)
        needs.tensor_parallel = _int(flags.get("vllm_tensor_parallel_size")) or 1
    model = served_size(recipe, lookup, source)
    if model is None:
        needs.notes.append("model size unknown: serving memory is not estimated")
        return needs
    needs.model = model.describe()
    t = model.text
    heads = t["num_attention_heads"]
    max_len = _int(flags.get("vllm_max_model_len")) or _int(flags.get("max_length")) or UNSET_MAX_LENGTH
    needs.memory = est.serve_memory(model.params, model.dtype, layers=t["num_hidden_layers"],
                                    kv_heads=t.get("num_key_value_heads") or heads,
                                    head_dim=t.get("head_dim") or t["hidden_size"] // heads, max_len=max_len,
                                    tensor_parallel=needs.tensor_parallel)
    return needs


def eval_needs(recipe: Recipe) -> StageNeeds:
    needs = StageNeeds(EVAL)
    if recipe.eval.backend == "vlmevalkit":
        needs.packages.append(Package("vlmeval", "eval.backend: vlmevalkit", "pip install 'evalscope[vlmeval]'",
                                      "--set eval.backend=native"))
    return needs


def _int(value) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _true(value) -> bool:
    return str(value).lower() in ("true", "1", "yes", "y", "t")
