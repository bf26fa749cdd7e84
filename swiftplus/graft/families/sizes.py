"""Parameter counts from config.json: the building blocks the families count their checkpoints with (pure: no
torch, no transformers, so the doctor's planning path stays instant).

The Llama / Qwen2 / Qwen3 decoder, a linear layer, and the SigLIP and CLIP towers: inside SmolVLM and LLaVA
checkpoints, and as the standalone dual encoders the llava family takes as vision sources (their text towers and
contrastive heads counted too). A tower key a config.json leaves out takes its config class's default, as
transformers fills it in (DEFAULTS). Each family's own module counts what is its alone (Qwen-VL patch mergers, a
pixel-shuffle connector, LLaVA's projector); tests hold every count to the fixtures' tensors and to published sizes.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Params:
    """A model's parameters by part: what stage 1 (aligner) and stage 2 (all) train differ by part."""

    vision: int = 0  # vision tower
    aligner: int = 0  # projector / merger / connector (SigLIP / CLIP: the contrastive projections and scale)
    llm: int = 0  # decoder, embeddings and lm_head (SigLIP / CLIP: the text tower)

    @property
    def total(self) -> int:
        return self.vision + self.aligner + self.llm


def linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def text_config(cfg: dict) -> dict:
    """The decoder's config: `text_config` when nested (tie_word_embeddings may sit on the top level)."""
    text = cfg.get("text_config")
    if not isinstance(text, dict):
        return cfg
    merged = dict(text)
    if "tie_word_embeddings" in cfg and "tie_word_embeddings" not in text:
        merged["tie_word_embeddings"] = cfg["tie_word_embeddings"]
    return merged


def decoder_params(cfg: dict, *, bias: bool | None = None, qk_norm: bool | None = None) -> int:
    """Embeddings + layers + final norm + lm_head (unless tied) of a Llama / Qwen2 / Qwen3 decoder. `bias` (q/k/v
    biases) and `qk_norm` (Qwen3's per-head RMSNorm) are the hosting family's when it fixes them; else the config's
    attention_bias, and the decoder's model_type (Qwen2's biases go unsaid, Qwen3's QK-norm too)."""
    t = text_config(cfg)
    h, layers, vocab = t["hidden_size"], t["num_hidden_layers"], t["vocab_size"]
    heads = t["num_attention_heads"]
    kv = t.get("num_key_value_heads") or heads
    hd = t.get("head_dim") or h // heads
    kind = str(t.get("model_type") or cfg.get("model_type", ""))
    bias = t.get("attention_bias", kind.startswith("qwen2")) if bias is None else bias
    qk_norm = kind.startswith("qwen3") if qk_norm is None else qk_norm
    attn = h * heads * hd + 2 * h * kv * hd + heads * hd * h + (heads * hd + 2 * kv * hd if bias else 0)
    if qk_norm:
        attn += 2 * hd  # q_norm, k_norm
    layer = attn + 3 * h * t["intermediate_size"] + 2 * h
    head = 0 if t.get("tie_word_embeddings", False) else vocab * h
    return vocab * h + layers * layer + h + head


def patch_merger(hidden: int, merge: int, out: int) -> int:
    """Qwen-VL's patch merger MLP: merge x merge patches concatenated, a square linear layer, one to `out`."""
    merged = hidden * merge ** 2
    return linear(merged, merged) + linear(merged, out)


def qwen_vit_kernel(v: dict, hidden: int) -> int:
    """Qwen-VL's patch embedding: a bias-free convolution over (temporal, height, width) patches."""
    return v.get("in_chans", v.get("in_channels", 3)) * v["temporal_patch_size"] * v["patch_size"] ** 2 * hidden


# --- SigLIP / CLIP towers ------------------------------------------------------------------------------------
# transformers 5's config-class defaults for the keys counted here (SmolVLM2-256M's hub config, for one, leaves
# intermediate_size and num_hidden_layers to them), by the tower config's model_type
VIT_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_channels", "image_size", "patch_size")
DEFAULTS = {
    "siglip_vision_model": dict(zip(VIT_KEYS, (768, 3072, 12, 3, 224, 16))),
    "clip_vision_model": dict(zip(VIT_KEYS, (768, 3072, 12, 3, 224, 32))),
    "smolvlm_vision": dict(zip(VIT_KEYS, (1152, 3072, 12, 3, 224, 32))),
    "idefics3_vision": dict(zip(VIT_KEYS, (1152, 3072, 12, 3, 224, 32))),
    "siglip_text_model": {"vocab_size": 32000, "hidden_size": 768, "intermediate_size": 3072,
                          "num_hidden_layers": 12, "max_position_embeddings": 64},
    "clip_text_model": {"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048,
                        "num_hidden_layers": 12, "max_position_embeddings": 77},
}
CLIP_PROJECTION_DIM = 512  # CLIPConfig.projection_dim
TOWERS = ("siglip_vision_model", "clip_vision_model")  # the towers LLaVA builds (and the dual encoders carry)


def tower(vision: dict, tower_type: str) -> tuple[str, dict]:
    """(siglip | clip: the tower's shape, its numbers with its config class's defaults filled in)."""
    return ("clip" if tower_type.startswith("clip") else "siglip"), {**DEFAULTS[tower_type], **vision}


def vit_tower(cfg: dict) -> tuple[str, dict, bool]:
    """(siglip | clip, the tower's numbers, whether it has SigLIP's attention-pooling head) of a llava-hf
    checkpoint, a standalone SigLIP / CLIP, or a vision-only save of one."""
    model_type = str(cfg.get("model_type"))
    if model_type in TOWERS:
        vision, tower_type = cfg, model_type
    else:
        vision = dict(cfg.get("vision_config") or {})
        tower_type = vision.get("model_type", "clip_vision_model") if model_type == "llava" \
            else f"{model_type}_vision_model"  # LlavaConfig's default tower is CLIP's
        if tower_type not in TOWERS:
            raise ValueError(f"{model_type} vision_config model_type {tower_type!r}: not a tower counted here")
    shape, values = tower(vision, tower_type)
    return shape, values, shape == "siglip" and values.get("vision_use_head", True) is not False


def vit_params(shape: str, v: dict, head: bool) -> int:
    """SigLIP: biased patch conv, one position per patch. CLIP: bias-free conv, a class embedding and its
    position, a pre-layernorm. Both: pre-norm layers with biased linears, a post-layernorm."""
    h, inter, p = v["hidden_size"], v["intermediate_size"], v["patch_size"]
    patches, conv = (v["image_size"] // p) ** 2, v["num_channels"] * p * p * h
    layer = 4 * linear(h, h) + linear(h, inter) + linear(inter, h) + 4 * h
    if shape == "clip":
        embed = h + conv + (patches + 1) * h + 2 * h
    else:
        embed = conv + h + patches * h
    pooling = h + linear(h, 3 * h) + linear(h, h) + 2 * h + linear(h, inter) + linear(inter, h) if head else 0
    return embed + v["num_hidden_layers"] * layer + 2 * h + pooling


def fixed_patches(shape: str, values: dict) -> int:
    """Patches a fixed-resolution tower makes of every image (CLIP adds its class token)."""
    return (values["image_size"] // values["patch_size"]) ** 2 + (shape == "clip")


# --- SigLIP / CLIP dual encoders: a text tower where a VLM has its decoder ------------------------------------
def dual_encoder_params(cfg: dict) -> Params:
    shape, values, head = vit_tower(cfg)
    return Params(vit_params(shape, values, head), dual_encoder_head_params(cfg, shape, values["hidden_size"]),
                  dual_encoder_text_params(cfg, shape))


def dual_encoder_head_params(cfg: dict, shape: str, vision_hidden: int) -> int:
    """What joins a dual encoder's towers: CLIP's two projections into the joint space and its logit scale;
    SigLIP's logit scale and bias (its projections sit inside the towers' heads); nothing in a vision-only save."""
    if "text_config" not in cfg:
        return 0
    if shape == "siglip":
        return 2
    dim = cfg.get("projection_dim") or CLIP_PROJECTION_DIM
    return dim * (vision_hidden + dual_encoder_text(cfg, shape)["hidden_size"]) + 1


def dual_encoder_text(cfg: dict, shape: str) -> dict:
    """A SigLIP / CLIP text tower's numbers, defaults filled in."""
    return {**DEFAULTS[f"{shape}_text_model"], **dict(cfg.get("text_config") or {})}


def dual_encoder_text_params(cfg: dict, shape: str) -> int:
    """SigLIP's or CLIP's text tower: embeddings, layers, final norm (SigLIP: and its projection head)."""
    if "text_config" not in cfg:
        return 0  # a vision-only save
    t = dual_encoder_text(cfg, shape)
    h, inter = t["hidden_size"], t["intermediate_size"]
    layer = 4 * linear(h, h) + linear(h, inter) + linear(inter, h) + 4 * h
    head = linear(h, t.get("projection_size") or h) if shape == "siglip" else 0
    return (t["vocab_size"] + t["max_position_embeddings"]) * h + t["num_hidden_layers"] * layer + 2 * h + head
