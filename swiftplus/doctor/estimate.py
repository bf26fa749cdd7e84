"""Parameter counts from config.json, and the bytes they become on disk and in device memory (pure).

Counts are the families' own (swiftplus/graft/families: each counts the checkpoints of its model types, from
the shared building blocks in sizes.py); a config no family counts is a decoder alone. Tests hold them to the
exact tensor lists of the fixtures and of their grafts, and to the published sizes of the shipped recipes' real
models. Nothing here reads weights.

Memory accounting (per device) follows ZeRO (Rajbhandari et al., 2020, sec. 3): mixed-precision Adam
keeps 2 bytes of weights, 2 of gradients and 12 of fp32 master weights + moments per trainable
parameter; ZeRO-1 partitions the 12 over the data-parallel processes, ZeRO-2 also the gradients, ZeRO-3
also the weights. Without DeepSpeed the Trainer's AdamW keeps two moments in the weights' dtype.
Activations are an allowance, not a measurement: per decoder layer 17 values per token per hidden unit
without recomputation (Korthikanti et al., 2022, eq. 2, attention scores not materialised by SDPA /
flash-attn), 1 with gradient checkpointing plus one layer's full working set, and the logits in the
model's dtype plus an fp32 copy for the loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from swiftplus.graft.families import Family, family_by_name, family_for, sizing
from swiftplus.graft.families.sizes import Params, decoder_params, text_config  # noqa: F401 (re-exported)

GB = 1e9
GIB = 2**30
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "bf16": 2, "fp16": 2, "fp32": 4}
ADAM_FP32_BYTES = 12  # fp32 master weights + first and second moments
ACTIVATION_VALUES = 17  # per token per hidden unit per layer, without recomputation
DEVICE_OVERHEAD_BYTES = 2 * GIB  # CUDA context, allocator fragmentation, communication buckets
ACTIVATIONS = "activations"
LORA_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _sizer(cfg: dict) -> Family | None:
    """The family that counts this config; None for a decoder alone. A vision model no family counts is refused
    (ValueError), not sized as a decoder."""
    family = sizing(cfg)
    if family is None and cfg.get("vision_config"):
        raise ValueError(f"model_type {cfg.get('model_type')!r}: no family under swiftplus/graft/families counts it")
    return family


def model_params(cfg: dict) -> Params:
    family = _sizer(cfg)
    return family.params(cfg) if family else Params(llm=decoder_params(cfg))


def vision_params(cfg: dict) -> int:
    """The vision tower without its projector (0 for a text-only model)."""
    family = _sizer(cfg)
    return family.vision_params(cfg) if family else 0


def vision_dims(cfg: dict) -> tuple[int, int, int]:
    """(hidden size, layers, patches per image token) of a config's vision tower; zeros for a text model."""
    family = _sizer(cfg)
    return family.vision_dims(cfg) if family else (0, 0, 0)


def image_patches(cfg: dict) -> int:
    """Patches every image becomes in a fixed-resolution tower (LLaVA's: the processor resizes each image to
    image_size; CLIP adds its class token); 0 where the image's size sets them (Qwen-VL, SmolVLM's tiles)."""
    family = _sizer(cfg)
    return family.image_patches(cfg) if family else 0


def grafted_config(template: dict, donor: dict, family: str | Family | None = None) -> dict:
    """The config graft/ writes for this pair with `family` (a family or its name; default: the one the graft picks
    for the template), as far as the counts read it: the family's own rewrite."""
    if not isinstance(family, Family):
        family = family_by_name(family) if family else family_for(template)
    return family.sized_config(template, donor)


def grafted_params(template: dict, donor: dict, family: str | Family | None = None) -> Params:
    """What graft/ writes: the template's vision tower (llava: as LLaVA keeps it, no SigLIP pooling head), its
    projector sized to the donor (deepstack taps cut to the donor's layers), the donor's decoder as the family
    hosts it (qwen2_5_vl: q/k/v biases, no QK-norm)."""
    return model_params(grafted_config(template, donor, family))


def lora_params(cfg: dict, rank: int, targets) -> int:
    """LoRA A and B matrices on the decoder's linear layers (`all-linear` or a list of module names)."""
    t = text_config(cfg)
    h, heads = t["hidden_size"], t["num_attention_heads"]
    kv, hd, inter = t.get("num_key_value_heads") or heads, t.get("head_dim") or h // heads, t["intermediate_size"]
    shapes = {"q_proj": (h, heads * hd), "k_proj": (h, kv * hd), "v_proj": (h, kv * hd), "o_proj": (heads * hd, h),
              "gate_proj": (h, inter), "up_proj": (h, inter), "down_proj": (inter, h)}
    names = [targets] if isinstance(targets, str) else list(targets or ["all-linear"])
    chosen = LORA_LINEARS if "all-linear" in names else [n for n in LORA_LINEARS if n in names]
    return t["num_hidden_layers"] * sum(rank * (shapes[n][0] + shapes[n][1]) for n in chosen)


# --- bytes ---------------------------------------------------------------------------------------------

def count(n: float) -> str:
    """8.87B, 47.2M: parameter counts as model cards write them."""
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def dtype_bytes(name, default: int = 2) -> int:
    return DTYPE_BYTES.get(str(name).removeprefix("torch."), default) if name else default


@dataclass(frozen=True)
class Training:
    """What sets a training stage's per-device memory and checkpoint size."""

    params: Params
    trainable: int  # parameters that get gradients and optimizer state
    dtype: int  # bytes per weight
    world: int = 1  # data-parallel processes over all nodes
    zero: int | None = None  # DeepSpeed ZeRO stage; None without DeepSpeed
    batch: int = 1
    seq: int = 2048
    checkpointing: bool = True
    hidden: int = 0
    layers: int = 0
    vocab: int = 0
    vision_patches: int = 0  # patches of the largest image a sample may hold, one image per sample
    vision_hidden: int = 0
    vision_layers: int = 0
    vision_trainable: bool = False  # a frozen tower keeps no activations for backward
    vision_checkpointing: bool = True


def vision_activations(t: Training) -> float:
    per_layer = t.batch * t.vision_patches * t.vision_hidden * t.dtype
    if not t.vision_trainable:
        return ACTIVATION_VALUES * per_layer  # one layer's working set, nothing kept
    if t.vision_checkpointing:
        return t.vision_layers * per_layer + ACTIVATION_VALUES * per_layer
    return t.vision_layers * ACTIVATION_VALUES * per_layer


def train_memory(t: Training) -> dict[str, float]:
    """Bytes per device by kind (weights, gradients, optimizer, activations, overhead). Everything but the
    activations is certain once the model loads; the activations are an allowance at max_length."""
    world = max(t.world, 1)
    split = lambda stage: world if t.zero is not None and t.zero >= stage else 1  # noqa: E731
    optimizer_bytes = ADAM_FP32_BYTES if t.zero is not None else 2 * t.dtype
    tokens = t.batch * t.seq
    per_layer = tokens * t.hidden * t.dtype
    if t.checkpointing:
        activations = t.layers * per_layer + ACTIVATION_VALUES * per_layer
    else:
        activations = t.layers * ACTIVATION_VALUES * per_layer
    logits = tokens * t.vocab * (t.dtype + 4)
    return {"weights": t.params.total * t.dtype / split(3), "gradients": t.trainable * t.dtype / split(2),
            "optimizer": t.trainable * optimizer_bytes / split(1), "overhead": DEVICE_OVERHEAD_BYTES,
            ACTIVATIONS: activations + logits + vision_activations(t)}


def checkpoint_bytes(t: Training, *, lora: bool, save_only_model: bool) -> float:
    """One saved checkpoint: the model's weights (LoRA: fp32 adapters) and, unless save_only_model, the
    optimizer state (DeepSpeed: fp32 master + moments, plus its own copy of the weights below ZeRO-3)."""
    if lora:
        weights = 4 * t.trainable
    else:
        weights = t.params.total * t.dtype
    if save_only_model:
        return weights
    if t.zero is None:
        return weights + 2 * max(t.dtype, 4 if lora else t.dtype) * t.trainable
    engine_copy = 0 if lora or t.zero >= 3 else t.params.total * t.dtype
    return weights + engine_copy + ADAM_FP32_BYTES * t.trainable


def kept_checkpoints(save_total_limit: int | None, max_steps: int | None, save_steps: int | None) -> int | None:
    """How many checkpoints exist at the peak: the Trainer deletes the oldest only after writing the next,
    so limit + 1; without a limit, one per save when max_steps says how many; None when unbounded."""
    if save_total_limit is not None and save_total_limit > 0:
        return save_total_limit + 1
    if max_steps and max_steps > 0 and save_steps and save_steps > 0:
        return math.ceil(max_steps / save_steps)
    return None


def serve_memory(params: Params, dtype: int, *, layers: int, kv_heads: int, head_dim: int, max_len: int,
                 tensor_parallel: int = 1) -> dict[str, float]:
    """Bytes per device to serve: the weights, and the key/value cache of one sequence of max_len tokens."""
    tp = max(tensor_parallel, 1)
    kv_cache = 2 * layers * kv_heads * head_dim * max_len * dtype
    return {"weights": params.total * dtype / tp, "kv cache (1 sequence)": kv_cache / tp,
            "overhead": DEVICE_OVERHEAD_BYTES}
