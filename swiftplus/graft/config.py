"""Donor-derived config rewrite: pure functions, dicts in, dicts out (no torch, no transformers).

Every text-model number comes from the donor's config; nothing is looked up in a hand table. The
template's schema is preserved: a hub-style config (flat text keys, `rope_theta` + `rope_scaling`)
stays hub-style, a transformers-5 save (`text_config`, `rope_parameters`) stays transformers-5.
"""
from __future__ import annotations

import copy
from typing import Any

from swiftplus.core.errors import UserError

# Text-model keys a VLM text config may carry; each is derived from the donor.
TEXT_KEYS = (
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "hidden_act", "max_position_embeddings", "rms_norm_eps",
    "attention_bias", "attention_dropout", "use_sliding_window", "sliding_window", "max_window_layers",
    "layer_types", "bos_token_id", "eos_token_id", "tie_word_embeddings",
)
ROPE_KEYS = ("rope_theta", "rope_scaling", "rope_parameters")
MROPE_KEYS = ("mrope_section", "mrope_interleaved")
VISION_TOKEN_KEYS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id",
                     "vision_token_id")


def _need(cfg: dict, key: str, where: str) -> Any:
    if cfg.get(key) is None:
        raise UserError(f"{where}: config.json has no `{key}`; cannot derive the grafted text model from it.")
    return cfg[key]


def donor_rope(cfg: dict) -> dict:
    """The donor's rope as one dict: rope_theta, rope_type and any scaling parameters."""
    if isinstance(cfg.get("rope_parameters"), dict):
        rope = dict(cfg["rope_parameters"])
    else:
        rope = dict(cfg.get("rope_scaling") or {})
        if "rope_theta" in cfg:
            rope["rope_theta"] = cfg["rope_theta"]
    if "type" in rope and "rope_type" not in rope:
        rope["rope_type"] = rope.pop("type")
    rope.setdefault("rope_type", "default")
    rope.setdefault("rope_theta", 10000.0)
    return rope


def donor_text_params(cfg: dict, where: str = "donor") -> dict:
    """The donor LLM's text-model parameters, normalised (head_dim and layer_types made explicit)."""
    p = {k: cfg[k] for k in TEXT_KEYS if k in cfg}
    hidden = _need(cfg, "hidden_size", where)
    heads = _need(cfg, "num_attention_heads", where)
    layers = _need(cfg, "num_hidden_layers", where)
    for key in ("intermediate_size", "vocab_size"):
        _need(cfg, key, where)
    p["num_key_value_heads"] = cfg.get("num_key_value_heads") or heads
    p["head_dim"] = cfg.get("head_dim") or hidden // heads
    p.setdefault("tie_word_embeddings", False)
    p.setdefault("max_window_layers", layers)
    if not p.get("layer_types"):
        sliding = cfg.get("sliding_window") if cfg.get("use_sliding_window") else None
        p["layer_types"] = ["sliding_attention" if sliding is not None and i >= p["max_window_layers"]
                            else "full_attention" for i in range(layers)]
    p["rope"] = donor_rope(cfg)
    return p


def text_level(cfg: dict) -> dict:
    """The dict holding the text model's keys: text_config when present, else the top level (hub)."""
    return cfg["text_config"] if isinstance(cfg.get("text_config"), dict) else cfg


def template_mrope(cfg: dict) -> dict:
    """The template's multimodal-rope keys (sections, interleaving), wherever its schema keeps them."""
    for level in (text_level(cfg), cfg):
        for key in ("rope_parameters", "rope_scaling"):
            rope = level.get(key)
            if isinstance(rope, dict) and "mrope_section" in rope:
                return {k: rope[k] for k in MROPE_KEYS if k in rope}
    return {}


def rescale_mrope_section(section: list[int], head_dim: int) -> list[int]:
    """Sections split head_dim/2 rotary frequencies among (t, h, w); scale them to the new head_dim exactly."""
    old, new = sum(section), head_dim // 2
    if old == new:
        return list(section)
    scaled = [s * new / old for s in section]
    if head_dim % 2 or any(abs(s - round(s)) > 1e-9 for s in scaled):
        raise UserError(
            f"the template's multimodal rope sections {section} split head_dim {2 * old}; the donor's head_dim "
            f"{head_dim} cannot be split in the same proportions ({[round(s, 2) for s in scaled]} are not whole "
            "numbers). Pick a donor whose head_dim the sections divide, or a template family without mrope.")
    return [int(round(s)) for s in scaled]


def _rope_entries(template_level: dict, donor: dict, mrope: dict) -> dict:
    """Rope keys in the template's own schema, carrying the donor's theta/scaling and the template's mrope."""
    rope = donor["rope"]
    if mrope:
        mrope = dict(mrope)
        mrope["mrope_section"] = rescale_mrope_section(mrope["mrope_section"], donor["head_dim"])
    scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
    if "rope_parameters" in template_level or "rope_theta" not in template_level and \
            "rope_scaling" not in template_level:
        return {"rope_parameters": {"rope_theta": rope["rope_theta"], **scaling, **mrope}}
    old = template_level.get("rope_scaling") or {}
    if scaling.get("rope_type") == "default":
        # keep the template's own spelling ({"type": "mrope", ...}); only the sections change
        new_scaling = {**old, **mrope} if (old or mrope) else None
    else:
        new_scaling = {**scaling, **mrope}
    return {"rope_theta": rope["rope_theta"], "rope_scaling": new_scaling}


def apply_text_params(level: dict, donor: dict, keys: tuple[str, ...], mrope: dict, is_text_level: bool) -> None:
    """Write the donor's text params into one config level (in place): the family's keys plus any
    text key already present there, so no stale value survives."""
    for key in TEXT_KEYS:
        if key in keys or key in level:
            if key in donor:
                level[key] = copy.deepcopy(donor[key])
            elif key in level:
                level.pop(key)
    if not is_text_level and not any(k in level for k in ROPE_KEYS):
        return
    rope = _rope_entries(level, donor, mrope)
    for key in ROPE_KEYS:
        level.pop(key, None)
    level.update(rope)


def set_everywhere(cfg: dict, key: str, value: Any) -> None:
    """Set key at the top level and in every nested config dict that already has it."""
    cfg[key] = value
    for sub in cfg.values():
        if isinstance(sub, dict) and key in sub:
            sub[key] = value


def token_ids_everywhere(cfg: dict) -> dict[str, set]:
    """Every value a vision token key has anywhere in a config (for consistency checks)."""
    seen: dict[str, set] = {}

    def walk(d: dict) -> None:
        for k, v in d.items():
            if k in VISION_TOKEN_KEYS:
                seen.setdefault(k, set()).add(v)
            elif isinstance(v, dict):
                walk(v)
    walk(cfg)
    return seen


def rewrite_qwen_vl_config(template_cfg: dict, donor_cfg: dict, text_keys: tuple[str, ...],
                           token_ids: dict[str, int]) -> dict:
    """Qwen-VL style: keep the template's config, replace the text model's numbers with the donor's,
    keep (and rescale) the multimodal rope sections, widen the vision output to the donor's width."""
    donor = donor_text_params(donor_cfg)
    new = copy.deepcopy(template_cfg)
    mrope = template_mrope(template_cfg)
    levels = [new] + ([new["text_config"]] if isinstance(new.get("text_config"), dict) else [])
    for level in levels:
        is_text = level is text_level(new)
        apply_text_params(level, donor, text_keys if is_text else (), mrope, is_text)
    new["tie_word_embeddings"] = donor["tie_word_embeddings"]
    new.setdefault("vision_config", {})["out_hidden_size"] = donor["hidden_size"]
    for key, value in token_ids.items():
        set_everywhere(new, key, value)
    return new


def rewrite_replacing_text_config(template_cfg: dict, donor_cfg: dict, token_ids: dict[str, int],
                                  pad_token_id: int | None) -> dict:
    """Idefics3/SmolVLM style: text_config is an arbitrary AutoConfig, so it becomes the donor's config."""
    donor = donor_text_params(donor_cfg)
    new = copy.deepcopy(template_cfg)
    text = {k: copy.deepcopy(v) for k, v in donor_cfg.items()
            if k not in ("architectures", "transformers_version", "auto_map", "torch_dtype", "dtype")}
    new["text_config"] = text
    for key in TEXT_KEYS:
        if key in new and key in donor:  # flat duplicates some hub configs carry at the top level
            new[key] = copy.deepcopy(donor[key])
    new["tie_word_embeddings"] = donor["tie_word_embeddings"]
    new["pad_token_id"] = pad_token_id
    for key, value in token_ids.items():
        set_everywhere(new, key, value)
    return new


def rewrite_generation_config(template_gen: dict | None, donor_gen: dict | None, donor_cfg: dict,
                              token_ids: dict[str, int]) -> dict:
    """Sampling defaults and stop ids follow the donor LLM; vision ids follow the graft."""
    gen = copy.deepcopy(donor_gen) if donor_gen else {}
    if not gen:
        for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
            if donor_cfg.get(key) is not None:
                gen[key] = donor_cfg[key]
    for key, value in token_ids.items():
        if template_gen and key in template_gen or key in gen:
            gen[key] = value
    gen.pop("transformers_version", None)
    return gen
