"""Any CLIP- or SigLIP-shaped vision tower + any decoder LLM, as a llava-hf checkpoint (LlavaForConditionalGeneration).

transformers builds LLaVA's text model with AutoModel.from_config(text_config) and vLLM with
init_vllm_registered_model(text_config), so the donor's config.json becomes text_config verbatim and its decoder
is hosted as it is (its own RoPE, QK-norm, tying): text-only logits equal the donor's. The tower is rewritten as
a siglip_vision_model or clip_vision_model config, the towers vLLM's LLaVA builds; the projector (linear, GELU,
linear) is new. Weights carry the legacy llava-hf names vLLM loads (graft/vllm_names.py). The image token is a
special token the donor's tokenizer already has, so no token is added, no row resized, and every text tokenizes
as before. Chat format and ms-swift model type follow the donor (DONOR_CHATS; plugin llava_graft).

Vision sources (the recipe's graft.template): SmolVLM2 / Idefics3 (their vision_model is SigLIP with
bucketised position ids that reduce to SigLIP's on a full-size image; graft.family: llava picks this family over
smolvlm), SigLIP or fixed-resolution SigLIP2 (model_type siglip), CLIP (model_type clip), and their vision-only
saves. Qwen-VL towers take (patches, grid_thw), which neither LLaVA accepts: they keep their own families.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

from swiftplus.core.errors import UserError
from swiftplus.graft.families.family import Family, Layout, Serving, TokenPlan
from swiftplus.graft.families.sizes import (
    TOWERS as TOWER_TYPES,
    VIT_KEYS,
    dual_encoder_params,
    fixed_patches,
    linear,
    tower,
    vit_params,
    vit_tower,
)
from swiftplus.graft.vllm_names import TOWER, check_llava_names

PROJECTOR = "multi_modal_projector."


@dataclass(frozen=True)
class DonorChat:
    """A donor chat format: the special tokens that identify it, and the one that stands for an image."""
    name: str  # ms-swift model type and template llava_<name>; chat template llava_<name>.jinja
    markers: tuple[str, ...]
    image_token: str
    donor_model_type: str  # the donors that speak it (the rehearsal's stand-in, where no config is at hand)

    @property
    def swift_type(self) -> str:
        return f"llava_{self.name}"


DONOR_CHATS = (
    DonorChat("qwen3", ("<|im_start|>", "<|im_end|>", "<think>", "</think>"), "<|image_pad|>", "qwen3"),
    DonorChat("llama3", ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), "<|reserved_special_token_0|>",
              "llama"),
)

# vision source model_type -> (tower kind, where its vision config sits, reasons for the source's other tensors)
_TEXT_SIDE = "the source's own language model: the donor replaces it"
SOURCES = {
    "smolvlm": ("siglip", "vision_config", {
        r"^model\.connector\.": "SmolVLM's pixel-shuffle connector: LLaVA projects every patch with a new two-layer "
                                "MLP (neither LLaVA in transformers nor vLLM has a pixel shuffle)",
        r"^(model\.text_model\.|lm_head\.)": _TEXT_SIDE}),
    "siglip": ("siglip", "vision_config", {
        r"^text_model\.|^logit_(scale|bias)$": "SigLIP's text tower and contrastive logit scale/bias",
        r"^vision_model\.head\.": "SigLIP's attention-pooling head: LLaVA feeds every patch feature to the "
                                  "projector, not the pooled vector (vision_use_head false)"}),
    "clip": ("clip", "vision_config", {
        r"^text_model\.|^logit_scale$|^(text|visual)_projection\.": "CLIP's text tower, contrastive projections "
                                                                    "and logit scale",
        r"position_ids$": "a buffer transformers and vLLM rebuild; vLLM has no parameter to load it into"}),
}
SOURCES["idefics3"] = SOURCES["smolvlm"]
SOURCES["siglip_vision_model"] = ("siglip", None, SOURCES["siglip"][2])
SOURCES["clip_vision_model"] = ("clip", None, SOURCES["clip"][2])
REFUSED = {"siglip2": "SigLIP2 NaFlex takes variable-size patch sequences (pixel_attention_mask, spatial_shapes), "
                      "which neither LLaVA in transformers nor vLLM's tower accepts; use a fixed-resolution SigLIP2 "
                      "checkpoint (they ship as model_type siglip, e.g. google/siglip2-so400m-patch14-384)"}
TOWER_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_channels",
              "image_size", "patch_size", "hidden_act", "layer_norm_eps", "attention_dropout")


@dataclass(frozen=True)
class Tower:
    model_type: str  # the vision config vLLM's LLaVA builds
    strategy: str  # vision_feature_select_strategy: "default" drops token 0 (CLIP's CLS); SigLIP has none
    layer: int  # vision_feature_layer, as LLaVA trains each tower
    cls_tokens: int  # processor num_additional_image_tokens
    image_processor: str


TOWERS = {"siglip": Tower("siglip_vision_model", "full", -1, 0, "SiglipImageProcessor"),
          "clip": Tower("clip_vision_model", "default", -2, 1, "CLIPImageProcessor")}


class Llava(Family):
    name = "llava"
    template_model_types = tuple(SOURCES) + tuple(REFUSED)
    architecture = "LlavaForConditionalGeneration"
    swift_plugin = "llava_graft.py"
    text_model_class = None  # AutoModel.from_config(text_config): the donor's own decoder
    projector_module = "model.multi_modal_projector"
    keep_template_chat_template = False
    chat: DonorChat | None = None
    # what it writes, and the standalone towers it takes (SmolVLM's own checkpoints the smolvlm family counts)
    sizes = ("llava", "siglip", "clip", *TOWER_TYPES)
    fixtures = {"smolvlm": "smolvlm2", "siglip": "siglip", "clip": "clip"}
    serving = Serving((architecture,))  # text_config's own decoder, in every backend

    def swift_types(self):
        return tuple(chat.swift_type for chat in DONOR_CHATS)

    def donor_model_type(self, swift_type):
        return next((c.donor_model_type for c in DONOR_CHATS if c.swift_type == swift_type), None)

    def for_donor(self, donor_cfg, donor_tok):
        for chat in DONOR_CHATS:
            if all(donor_tok.token_to_id(m) is not None for m in chat.markers):
                bound = Llava()
                bound.chat = chat
                bound.swift_model_type = bound.swift_template = chat.swift_type
                bound.chat_template_file = f"{chat.swift_type}.jinja"
                return bound
        known = "; ".join(f"{c.name}: {' '.join(c.markers)}" for c in DONOR_CHATS)
        raise UserError(f"donor: its tokenizer has the special tokens of no chat format the llava family knows "
                        f"({known}). Add a DonorChat to swiftplus/graft/families/llava.py and its template to the "
                        "llava_graft plugin.")

    def layout(self, template_names):
        for prefix in ("model.vision_model.", "vision_model."):
            if any(n.startswith(prefix) for n in template_names):
                return Layout((prefix,), "language_model.model.", lm_head="language_model.lm_head.weight",
                              name="llava-hf")
        raise UserError("template: no `vision_model.*` or `model.vision_model.*` tensors; the llava family takes "
                        "CLIP, SigLIP and SmolVLM/Idefics3 checkpoints.")

    def target_name(self, template_name):
        return TOWER + template_name.split("vision_model.", 1)[1]

    def check_pair(self, template_cfg, donor_cfg):
        if template_cfg.get("model_type") in REFUSED:
            raise UserError(f"template: {REFUSED[template_cfg['model_type']]}.")
        _tower(template_cfg)
        if donor_cfg.get("auto_map"):
            raise UserError("donor: config.json has auto_map (remote code); LLaVA hosts decoders that transformers "
                            "and vLLM build natively.")
        arch = donor_cfg.get("architectures") or []
        if len(arch) != 1 or not str(arch[0]).endswith("ForCausalLM"):
            raise UserError(f"donor: config.json architectures is {arch!r}; vLLM's LLaVA picks the decoder class from "
                            "text_config.architectures, so the donor must name its one *ForCausalLM class.")
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
        if donor_cfg.get("model_type") not in CONFIG_MAPPING_NAMES:
            raise UserError(f"donor: model_type {donor_cfg.get('model_type')!r} is not a model transformers knows.")

    def unused_template(self, template_cfg, donor_cfg):
        return SOURCES[template_cfg["model_type"]][2]

    def tokens(self, template_cfg, template_tok, donor_tok) -> TokenPlan:
        token = self.chat.image_token
        tid = donor_tok.token_to_id(token)
        if tid is None:
            raise UserError(f"donor: tokenizer has no {token}; the llava family's {self.chat.name} format uses "
                            "that existing special token as the image token.")
        return TokenPlan({"image_token_id": tid}, {token: tid}, {"image_token": token})

    def rewrite_config(self, template_cfg, donor_cfg, tokens, pad_token_id):
        tower = _tower(template_cfg)
        kind = TOWERS[tower["kind"]]
        side = tower["image_size"] // tower["patch_size"]
        tie = bool(donor_cfg.get("tie_word_embeddings", False))
        cfg = {
            "architectures": [self.architecture],
            "model_type": "llava",
            "image_token_index": tokens.ids["image_token_id"],
            "image_seq_length": side * side + kind.cls_tokens - (kind.strategy == "default"),
            "projector_hidden_act": "gelu",
            "multimodal_projector_bias": True,
            "vision_feature_select_strategy": kind.strategy,
            "vision_feature_layer": kind.layer,
            "text_config": copy.deepcopy(donor_cfg),
            "vision_config": {k: tower[k] for k in TOWER_KEYS if k in tower} | {"model_type": kind.model_type},
            "tie_word_embeddings": tie,
        }
        if tower["kind"] == "siglip":
            cfg["vision_config"]["vision_use_head"] = False
        dtype = donor_cfg.get("torch_dtype") or donor_cfg.get("dtype")
        if dtype:
            cfg["torch_dtype"] = dtype
        return cfg

    def new_tensors(self, template_cfg, donor_cfg):
        vision, text = _tower(template_cfg)["hidden_size"], donor_cfg["hidden_size"]
        note = "new projector (linear, GELU, linear); train it in stage 1"
        return [(f"{PROJECTOR}linear_1.weight", (text, vision), note), (f"{PROJECTOR}linear_1.bias", (text,), note),
                (f"{PROJECTOR}linear_2.weight", (text, text), note), (f"{PROJECTOR}linear_2.bias", (text,), note)]

    def processor_files(self, template_dir, template_cfg, new_cfg):
        path = Path(template_dir) / "preprocessor_config.json"
        if not path.is_file():
            raise UserError(f"{template_dir}: no preprocessor_config.json; the llava graft takes the tower's image "
                            "normalisation (mean, std, resampling) from it.")
        source = json.loads(path.read_text())
        if not {"image_mean", "image_std"} <= set(source):
            raise UserError(f"{path}: no image_mean / image_std; the tower was trained on images normalised with them.")
        vision = new_cfg["vision_config"]
        kind = next(t for t in TOWERS.values() if t.model_type == vision["model_type"])
        size = vision["image_size"]
        common = {"do_convert_rgb": True, "do_resize": True, "do_rescale": True, "do_normalize": True,
                  "rescale_factor": source.get("rescale_factor", 1 / 255), "resample": source.get("resample", 3),
                  "image_mean": source["image_mean"], "image_std": source["image_std"],
                  "processor_class": "LlavaProcessor"}
        image = {"image_processor_type": kind.image_processor, **common}
        if kind.image_processor == "CLIPImageProcessor":  # CLIP's own: shortest edge, then a centre crop
            image |= {"size": {"shortest_edge": size}, "do_center_crop": True,
                      "crop_size": {"height": size, "width": size}}
        else:  # one full-size tile: vLLM takes exactly image_size x image_size
            image |= {"size": {"height": size, "width": size}}
        processor = {"processor_class": "LlavaProcessor", "image_token": self.chat.image_token,
                     "patch_size": vision["patch_size"], "vision_feature_select_strategy": kind.strategy,
                     "num_additional_image_tokens": kind.cls_tokens}
        return {"preprocessor_config.json": image, "processor_config.json": processor}

    def serving_check(self, names, new_cfg):
        return check_llava_names(names, new_cfg)

    # --- counts (pure: the config classes' defaults come from sizes.DEFAULTS, not from transformers) ----------
    def sized_config(self, template_cfg, donor_cfg):
        """rewrite_config's llava-hf config as far as the counts read it: the tower's numbers, one feature layer,
        the donor's config verbatim as text_config."""
        model_type = template_cfg.get("model_type")
        if model_type not in SOURCES:
            raise ValueError(f"template model_type {model_type!r}: not a vision source of the llava family")
        kind, key, _ = SOURCES[model_type]
        shape, values = tower(dict(template_cfg[key] if key else template_cfg), _tower_type(model_type, kind))
        vision = {k: values[k] for k in VIT_KEYS} | {"model_type": TOWERS[shape].model_type}
        if shape == "siglip":
            vision["vision_use_head"] = False
        return {"model_type": "llava", "vision_config": vision, "text_config": donor_cfg,
                "vision_feature_layer": TOWERS[shape].layer,
                "tie_word_embeddings": bool(donor_cfg.get("tie_word_embeddings", False)),
                "torch_dtype": donor_cfg.get("torch_dtype") or donor_cfg.get("dtype")}

    def params(self, cfg):
        if cfg.get("model_type") == "llava":
            return super().params(cfg)
        return dual_encoder_params(cfg)  # a SigLIP / CLIP source: its text tower where a VLM has a decoder

    def vision_params(self, cfg):
        return vit_params(*vit_tower(cfg))

    def aligner_params(self, cfg, out):
        """Linear, GELU, linear; a list of feature layers is concatenated."""
        layers = cfg.get("vision_feature_layer", -2)
        width = vit_tower(cfg)[1]["hidden_size"] * (len(layers) if isinstance(layers, list) else 1)
        bias = cfg.get("multimodal_projector_bias", True)
        return linear(width, out, bias) + linear(out, out, bias)

    def vision_dims(self, cfg):
        values = vit_tower(cfg)[1]
        return values["hidden_size"], values["num_hidden_layers"], 1

    def image_patches(self, cfg):
        """LlavaProcessor resizes every image to the tower's image_size; a dual encoder is not served."""
        if cfg.get("model_type") != "llava":
            return 0
        shape, values, _ = vit_tower(cfg)
        return fixed_patches(shape, values)


def _tower_type(model_type: str, kind: str) -> str:
    """The vision config model_type of a source's tower (its config class, whose defaults fill in what is unsaid)."""
    return {"smolvlm": "smolvlm_vision", "idefics3": "idefics3_vision"}.get(model_type, f"{kind}_vision_model")


def _tower(template_cfg: dict) -> dict:
    """The source's vision tower as plain numbers (every default filled in by its own config class), plus its kind."""
    model_type = template_cfg.get("model_type")
    if model_type not in SOURCES:
        raise UserError(f"template: model_type {model_type!r} is not a vision source of the llava family "
                        f"({', '.join(SOURCES)}).")
    kind, key, _ = SOURCES[model_type]
    vision = dict(template_cfg[key] if key else template_cfg)
    vision.setdefault("model_type", _tower_type(model_type, kind))
    from transformers import AutoConfig
    # the source's own config class fills in what its config.json leaves to defaults (SmolVLM's differ from SigLIP's)
    resolved = AutoConfig.for_model(vision["model_type"], **{k: v for k, v in vision.items() if k in TOWER_KEYS})
    full = {k: getattr(resolved, k) for k in TOWER_KEYS if getattr(resolved, k, None) is not None}
    size, patch = full.get("image_size"), full.get("patch_size")
    if not isinstance(size, int) or not isinstance(patch, int) or size < patch:
        # a square size; (size // patch)^2 patches, as the stride-patch convolution makes (so400m: 384 // 14 = 27)
        raise UserError(f"template: vision image_size {size!r} / patch_size {patch!r}; the llava family needs one "
                        "square image size of at least one patch.")
    return {**full, "kind": kind}
