"""Vision towers and their projectors, counted from config.json (pure; estimate.py adds decoders and bytes).

Kinds: Qwen2-VL, Qwen2.5-VL and Qwen3-VL (a patch conv over (t, h, w) and a patch merger); SmolVLM / Idefics3
(SigLIP + a pixel-shuffle connector); standalone SigLIP (and fixed-resolution SigLIP2, which ships as siglip)
and CLIP, whose text towers and contrastive heads are counted too; and llava-hf checkpoints (a SigLIP or CLIP
tower, a two-layer projector, any decoder as text_config), which the llava graft family writes. A tower key a
config.json leaves out takes its config class's default, as transformers fills it in (DEFAULTS).
"""
from __future__ import annotations

# transformers 5's config-class defaults for the keys counted here (SmolVLM2-256M's hub config, for one, leaves
# intermediate_size and num_hidden_layers to them)
_VIT = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_channels", "image_size", "patch_size")
DEFAULTS = {
    "siglip_vision_model": dict(zip(_VIT, (768, 3072, 12, 3, 224, 16))),
    "clip_vision_model": dict(zip(_VIT, (768, 3072, 12, 3, 224, 32))),
    "smolvlm_vision": dict(zip(_VIT, (1152, 3072, 12, 3, 224, 32))),
    "idefics3_vision": dict(zip(_VIT, (1152, 3072, 12, 3, 224, 32))),
    "siglip_text_model": {"vocab_size": 32000, "hidden_size": 768, "intermediate_size": 3072,
                          "num_hidden_layers": 12, "max_position_embeddings": 64},
    "clip_text_model": {"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048,
                        "num_hidden_layers": 12, "max_position_embeddings": 77},
}
CLIP_PROJECTION_DIM = 512  # CLIPConfig.projection_dim
# a model_type (or its vision config's) -> the defaults its vision config takes
_TOWER_DEFAULTS = {"smolvlm": "smolvlm_vision", "idefics3": "idefics3_vision", "siglip": "siglip_vision_model",
                   "clip": "clip_vision_model", "siglip_vision_model": "siglip_vision_model",
                   "clip_vision_model": "clip_vision_model"}
VIT_KINDS = ("smolvlm", "siglip", "clip", "llava")
CONTRASTIVE = ("siglip", "clip")  # dual-encoder models: a text tower in place of a decoder


def linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def kind(cfg: dict) -> str:
    """text | smolvlm | siglip | clip | llava | qwen2_vl | qwen2_5_vl | qwen3_vl."""
    model_type = str(cfg.get("model_type", ""))
    vision = cfg.get("vision_config") or {}
    if model_type.startswith(("smolvlm", "idefics3")) or "scale_factor" in cfg:
        return "smolvlm"
    if model_type == "llava":
        return "llava"
    if model_type in ("siglip", "siglip_vision_model", "clip", "clip_vision_model"):
        return model_type.removesuffix("_vision_model")
    if not vision:
        return "text"
    if "deepstack_visual_indexes" in vision or model_type.startswith("qwen3_vl"):
        return "qwen3_vl"
    if "embed_dim" in vision:
        return "qwen2_vl"
    return "qwen2_5_vl"


def tower(cfg: dict) -> tuple[str, dict, bool]:
    """A ViT-kind config's tower: (siglip | clip: its shape, its numbers with defaults filled in, whether it has
    SigLIP's attention-pooling head)."""
    k, model_type = kind(cfg), str(cfg.get("model_type"))
    vision = cfg if model_type.endswith("_vision_model") else dict(cfg.get("vision_config") or {})
    if k == "llava":
        model_type = vision.get("model_type", "clip_vision_model")  # LlavaConfig's default tower
        if model_type not in ("siglip_vision_model", "clip_vision_model"):
            raise ValueError(f"llava vision_config model_type {model_type!r}: not a tower counted here")
    values = {**DEFAULTS[_TOWER_DEFAULTS.get(model_type, model_type)], **vision}
    shape = "clip" if model_type.startswith("clip") else "siglip"
    head = shape == "siglip" and k != "smolvlm" and values.get("vision_use_head", True) is not False
    return shape, values, head


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


def vision_params(cfg: dict) -> int:
    """The vision tower without its projector (0 for a text-only model)."""
    k, v = kind(cfg), cfg.get("vision_config") or {}
    if k == "text":
        return 0
    if k in VIT_KINDS:
        return vit_params(*tower(cfg))
    if k == "qwen2_vl":
        h, inter = v["embed_dim"], v["embed_dim"] * v["mlp_ratio"]
        block = 4 * h + linear(h, 3 * h) + linear(h, h) + linear(h, inter) + linear(inter, h)
        patch = v.get("in_chans", 3) * v["temporal_patch_size"] * v["patch_size"] ** 2 * h
        return patch + v["depth"] * block
    h, inter = v["hidden_size"], v["intermediate_size"]
    kernel = v.get("in_chans", v.get("in_channels", 3)) * v["temporal_patch_size"] * v["patch_size"] ** 2 * h
    if k == "qwen3_vl":  # LayerNorms with bias, GELU MLP, a learned position table, a biased patch conv
        block = 4 * h + linear(h, 3 * h) + linear(h, h) + linear(h, inter) + linear(inter, h)
        return kernel + h + v["num_position_embeddings"] * h + v["depth"] * block
    block = 2 * h + linear(h, 3 * h) + linear(h, h) + 2 * linear(h, inter) + linear(inter, h)  # RMSNorm, SwiGLU
    return kernel + v["depth"] * block


def aligner_params(cfg: dict, out: int) -> int:
    """The projector from vision features to `out`, the decoder's hidden size."""
    k, v = kind(cfg), cfg.get("vision_config") or {}
    if k == "text":
        return 0
    if k == "smolvlm":
        return linear(tower(cfg)[1]["hidden_size"] * cfg["scale_factor"] ** 2, out, bias=False)
    if k == "llava":  # linear, GELU, linear; a list of feature layers is concatenated
        layers = cfg.get("vision_feature_layer", -2)
        width = tower(cfg)[1]["hidden_size"] * (len(layers) if isinstance(layers, list) else 1)
        bias = cfg.get("multimodal_projector_bias", True)
        return linear(width, out, bias) + linear(out, out, bias)
    h = v["embed_dim"] if k == "qwen2_vl" else v["hidden_size"]
    merged = h * v["spatial_merge_size"] ** 2
    mlp = linear(merged, merged) + linear(merged, out)
    if k == "qwen2_vl":
        return 2 * h + mlp
    if k == "qwen2_5_vl":
        return h + mlp
    deepstack = len(v.get("deepstack_visual_indexes") or ())
    return 2 * h + mlp + deepstack * (2 * merged + mlp)


def contrastive_head_params(cfg: dict) -> int:
    """What joins a contrastive model's towers: CLIP's two projections into the joint space and its logit
    scale; SigLIP's logit scale and bias (its projections sit inside the towers' heads)."""
    if "text_config" not in cfg:
        return 0  # a vision-only save
    if kind(cfg) == "siglip":
        return 2
    dim = cfg.get("projection_dim") or CLIP_PROJECTION_DIM
    return dim * (tower(cfg)[1]["hidden_size"] + contrastive_text(cfg)["hidden_size"]) + 1


def contrastive_text(cfg: dict) -> dict:
    """A SigLIP / CLIP text tower's numbers, defaults filled in."""
    text = dict(cfg.get("text_config") or {})
    return {**DEFAULTS[f"{kind(cfg)}_text_model"], **text}


def contrastive_text_params(cfg: dict) -> int:
    """SigLIP's or CLIP's text tower: embeddings, layers, final norm (SigLIP: and its projection head)."""
    if "text_config" not in cfg:
        return 0  # a vision-only save
    t = contrastive_text(cfg)
    h, inter = t["hidden_size"], t["intermediate_size"]
    layer = 4 * linear(h, h) + linear(h, inter) + linear(inter, h) + 4 * h
    head = linear(h, t.get("projection_size") or h) if kind(cfg) == "siglip" else 0
    return (t["vocab_size"] + t["max_position_embeddings"]) * h + t["num_hidden_layers"] * layer + 2 * h + head


def vision_dims(cfg: dict) -> tuple[int, int, int]:
    """(hidden size, layers, patches per image token) of a config's vision tower; zeros for a text model."""
    k, v = kind(cfg), cfg.get("vision_config") or {}
    if k == "text":
        return 0, 0, 0
    if k in VIT_KINDS:
        t = tower(cfg)[1]
        return t["hidden_size"], t["num_hidden_layers"], cfg["scale_factor"] ** 2 if k == "smolvlm" else 1
    hidden = v["embed_dim"] if k == "qwen2_vl" else v["hidden_size"]
    return hidden, v["depth"], v["spatial_merge_size"] ** 2


def image_patches(cfg: dict) -> int:
    """Patches every image becomes in a fixed-resolution tower (LLaVA's: the processor resizes each image to
    image_size; CLIP adds its class token); 0 where the image's size sets them (Qwen-VL, SmolVLM's tiles)."""
    if kind(cfg) != "llava":
        return 0
    shape, t, _ = tower(cfg)
    return (t["image_size"] // t["patch_size"]) ** 2 + (shape == "clip")


def as_llava(template: dict, donor: dict) -> dict:
    """The llava-hf config the llava graft family writes for this pair, as far as the counts read it: the
    template's tower as a SigLIP or CLIP vision config (SigLIP's pooling head left out: LLaVA feeds every patch
    to the projector), one feature layer, the donor's config verbatim as text_config."""
    if kind(template) not in VIT_KINDS or kind(template) == "llava":
        raise ValueError(f"template model_type {template.get('model_type')!r}: not a llava vision source")
    shape, values, _ = tower(template)
    vision = {k: values[k] for k in _VIT} | {"model_type": f"{shape}_vision_model"}
    if shape == "siglip":
        vision["vision_use_head"] = False
    return {"model_type": "llava", "vision_config": vision, "text_config": donor,
            "vision_feature_layer": -1 if shape == "siglip" else -2,
            "tie_word_embeddings": bool(donor.get("tie_word_embeddings", False)),
            "torch_dtype": donor.get("torch_dtype") or donor.get("dtype")}
