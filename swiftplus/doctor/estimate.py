"""Parameter counts from config.json, and the bytes they become on disk and in device memory (pure).

Counts follow the architectures the graft families and fixtures implement (vision towers and projectors in
estimate_vision.py; Llama/Qwen2/Qwen3 decoders here); tests hold them to the exact tensor lists of the
fixtures and of their grafts, and to the published sizes of the shipped recipes' real models. Nothing here
reads weights.

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

from swiftplus.doctor import estimate_vision as vis
from swiftplus.doctor.estimate_vision import image_patches, vision_dims, vision_params  # noqa: F401 (re-exported)

GB = 1e9
GIB = 2**30
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "bf16": 2, "fp16": 2, "fp32": 4}
ADAM_FP32_BYTES = 12  # fp32 master weights + first and second moments
ACTIVATION_VALUES = 17  # per token per hidden unit per layer, without recomputation
DEVICE_OVERHEAD_BYTES = 2 * GIB  # CUDA context, allocator fragmentation, communication buckets
ACTIVATIONS = "activations"
LORA_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
QK_NORM = ("qwen3", "qwen2_5_vl_qwen3")  # decoder model_types with q_norm / k_norm (Qwen3's, and its host's)
LLAVA = "llava"  # graft family names, as swiftplus/graft/families spells them
TEMPLATE_DECODER_FAMILIES = ("qwen2_5_vl", "qwen3_vl")  # host the donor in the template's own decoder


@dataclass(frozen=True)
class Params:
    """A model's parameters by part: what stage 1 (aligner) and stage 2 (all) train differ by part."""

    vision: int = 0  # vision tower
    aligner: int = 0  # projector / merger / connector (SigLIP / CLIP: the contrastive projections and scale)
    llm: int = 0  # decoder, embeddings and lm_head (SigLIP / CLIP: the text tower)

    @property
    def total(self) -> int:
        return self.vision + self.aligner + self.llm


def text_config(cfg: dict) -> dict:
    """The decoder's config: `text_config` when nested (tie_word_embeddings may sit on the top level)."""
    text = cfg.get("text_config")
    if not isinstance(text, dict):
        return cfg
    merged = dict(text)
    if "tie_word_embeddings" in cfg and "tie_word_embeddings" not in text:
        merged["tie_word_embeddings"] = cfg["tie_word_embeddings"]
    return merged


def decoder_params(cfg: dict) -> int:
    """Embeddings + layers + final norm + lm_head (unless tied) of a Llama / Qwen2 / Qwen3 decoder."""
    t = text_config(cfg)
    h, layers, vocab = t["hidden_size"], t["num_hidden_layers"], t["vocab_size"]
    heads = t["num_attention_heads"]
    kv = t.get("num_key_value_heads") or heads
    hd = t.get("head_dim") or h // heads
    kind = str(t.get("model_type") or cfg.get("model_type", ""))
    bias = t.get("attention_bias", kind.startswith("qwen2"))  # Qwen2's q/k/v carry biases without saying so
    attn = h * heads * hd + 2 * h * kv * hd + heads * hd * h + (heads * hd + 2 * kv * hd if bias else 0)
    if kind.startswith(QK_NORM):
        attn += 2 * hd  # q_norm, k_norm
    layer = attn + 3 * h * t["intermediate_size"] + 2 * h
    head = 0 if t.get("tie_word_embeddings", False) else vocab * h
    return vocab * h + layers * layer + h + head


def aligner_params(cfg: dict, out_hidden: int | None = None) -> int:
    """The projector from vision features to the decoder's hidden size (`out_hidden`: a donor's, after a graft)."""
    if vis.kind(cfg) in vis.CONTRASTIVE:  # no decoder to project to
        return vis.contrastive_head_params(cfg)
    return vis.aligner_params(cfg, out_hidden or text_config(cfg)["hidden_size"])


def model_params(cfg: dict) -> Params:
    if vis.kind(cfg) in vis.CONTRASTIVE:  # SigLIP / CLIP: a text tower where a VLM has its decoder
        return Params(vision_params(cfg), aligner_params(cfg), vis.contrastive_text_params(cfg))
    return Params(vision_params(cfg), aligner_params(cfg), decoder_params(cfg))


def graft_family(template: dict) -> str:
    """The graft family that takes a template when the recipe names none (graft.families.family_for's choice
    with host: template), for callers that only have configs."""
    return {"smolvlm": "smolvlm", "siglip": "llava", "clip": "llava", "qwen3_vl": "qwen3_vl"}.get(
        vis.kind(template), "qwen2_5_vl")


def grafted_vision(template: dict, donor: dict, family: str | None = None) -> dict:
    """The config whose vision side the graft writes: the template's, or for the llava family the llava-hf
    config it rewrites the template's tower into."""
    return vis.as_llava(template, donor) if (family or graft_family(template)) == LLAVA else template


def grafted_params(template: dict, donor: dict, family: str | None = None) -> Params:
    """What graft/ writes with `family` (a graft family's name; default: the template's own). llava: the
    template's tower as LLaVA keeps it (no SigLIP pooling head), a new two-layer projector, the donor's
    decoder as it is. The others: the template's vision tower; its projector re-sized to the donor's hidden
    size (and deepstack taps cut to the donor's layers); the donor's sizes in the template's decoder
    architecture where the family hosts the donor there (qwen2_5_vl: q/k/v biases, no QK-norm), else the
    donor's own (qwen2_5_vl_qwen3, and SmolVLM's plugin decoder, which is Qwen3's)."""
    family = family or graft_family(template)
    if family == LLAVA:
        return model_params(vis.as_llava(template, donor))
    text = dict(text_config(donor))
    if family in TEMPLATE_DECODER_FAMILIES:
        text["model_type"] = text_config(template).get("model_type") or template.get("model_type")
        text.pop("attention_bias", None)  # a donor's setting, not the host decoder's
    host = dict(template)
    vision = dict(template.get("vision_config") or {})
    if vision.get("deepstack_visual_indexes"):
        vision["deepstack_visual_indexes"] = vision["deepstack_visual_indexes"][: text["num_hidden_layers"]]
        host["vision_config"] = vision
    return Params(vision_params(template), aligner_params(host, text["hidden_size"]), decoder_params(text))


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
