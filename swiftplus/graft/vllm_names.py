"""Which tensor names vLLM's LLaVA loader takes: a table read from vLLM's source, and a check of a checkpoint
against it. vLLM is GPU-only and not installed where grafts are made; tests compare the table with vLLM
itself wherever it is importable (vllm_prefix_map).

What the table encodes, with where vLLM 0.33 says it (vllm/model_executor/models/):
- llava.py:505-513  LlavaForConditionalGeneration.hf_to_vllm_mapper: names saved by transformers >= 4.52
  (model.language_model., model.vision_tower., model.multi_modal_projector., lm_head.) are renamed onto its
  modules; the legacy llava-hf names (language_model.model., vision_tower., multi_modal_projector.) pass as they
  are. llava.py:721-723: AutoWeightsLoader then hands each top-level module its own names.
- llava.py:568-573  the text model is init_vllm_registered_model(text_config): it loads the donor's own
  `model.*` / `lm_head.*` names with the donor's own loader.
- llava.py:458-484  only CLIPVisionConfig / SiglipVisionConfig (and Pixtral) towers are built; siglip.py:805-824
  and clip.py:730-747: the tower holds `vision_model`, so its names are vision_tower.vision_model.*.
- llava.py:553-557, siglip.py:686-729, clip.py:667-679: post_layernorm and SigLIP's pooling head are not built
  in LLaVA and their names are skipped; llava.py:425-443 builds the tower only up to the feature layer and
  siglip.py:788-802, clip.py:715-727 skip the layers past it.
- siglip.py:277-282, clip.py:337-341: position_ids are non-persistent buffers, so a stored one has nowhere to go,
  and utils.py:437-449 (AutoWeightsLoader._load_module) raises on any name with no module or parameter.
- llava.py:123-148  LlavaMultiModalProjector: linear_1, act, linear_2.
"""
from __future__ import annotations

import re

ENGINE = "vLLM 0.33 LLaVA loader (table from its source)"
LLAVA_PREFIX_MAP = {
    "model.language_model.": "language_model.model.",
    "model.vision_tower.": "vision_tower.",
    "model.multi_modal_projector.": "multi_modal_projector.",
    "lm_head.": "language_model.lm_head.",
}
TOWER = "vision_tower.vision_model."
LAYER = r"encoder\.layers\.\d+\.(layer_norm[12]\.(weight|bias)|self_attn\.[qkv]_proj\.(weight|bias)|" \
        r"self_attn\.out_proj\.(weight|bias)|mlp\.fc[12]\.(weight|bias))"
# tower-relative names vLLM loads, per vision config model_type; SKIPPED ones it accepts and discards
TOWER_NAMES = {
    "siglip_vision_model": re.compile(
        rf"embeddings\.patch_embedding\.(weight|bias)|embeddings\.position_embedding\.weight|{LAYER}"),
    "clip_vision_model": re.compile(
        rf"embeddings\.(class_embedding|patch_embedding\.weight|position_embedding\.weight)|"
        rf"pre_layrnorm\.(weight|bias)|{LAYER}"),
}
SKIPPED = re.compile(r"post_layernorm\.(weight|bias)|head\..+")
PROJECTOR = re.compile(r"multi_modal_projector\.linear_[12]\.(weight|bias)")


def vllm_prefix_map() -> dict[str, str] | None:
    """vLLM's own LLaVA prefix mapping, or None where vLLM is not installed."""
    try:
        from vllm.model_executor.models.llava import LlavaForConditionalGeneration
    except ImportError:
        return None
    return dict(LlavaForConditionalGeneration.hf_to_vllm_mapper.orig_to_new_prefix)


def as_vllm_names(names: list[str], prefix_map: dict[str, str] = LLAVA_PREFIX_MAP) -> dict[str, str]:
    """checkpoint name -> the name vLLM's LlavaForConditionalGeneration resolves it to (first prefix wins)."""
    out = {}
    for name in names:
        out[name] = next((new + name[len(old):] for old, new in prefix_map.items() if name.startswith(old)), name)
    return out


def _in_tower(target: str) -> str | None:
    """A vLLM name relative to the tower's vision_model, or None outside it."""
    return target[len(TOWER):] if target.startswith(TOWER) else None


def layers_built(cfg: dict) -> int:
    """How many tower layers vLLM builds: up to the feature layer LLaVA reads (llava.py:425-443, utils.py:1201-1212)."""
    total, layer = cfg["vision_config"]["num_hidden_layers"], cfg.get("vision_feature_layer", -2)
    layers = layer if isinstance(layer, list) else [layer]
    return max(total + i + 1 if i < 0 else i for i in layers)


def skipped_by_vllm(names: list[str], cfg: dict, prefix_map: dict[str, str] = LLAVA_PREFIX_MAP) -> set[str]:
    """The tower tensors vLLM accepts and discards: modules LLaVA never runs (post-norm, pooling head, layers
    past the feature layer)."""
    built, out = layers_built(cfg), set()
    for name, target in as_vllm_names(names, prefix_map).items():
        rel = _in_tower(target)
        layer = re.match(r"encoder\.layers\.(\d+)\.", rel or "")
        if rel is not None and (SKIPPED.fullmatch(rel) or layer and int(layer.group(1)) >= built):
            out.add(name)
    return out


def check_llava_names(names: list[str], cfg: dict, prefix_map: dict[str, str] = LLAVA_PREFIX_MAP) -> dict:
    """Would vLLM's LLaVA loader place every tensor of a checkpoint with config `cfg`? Problems name each refusal."""
    problems: list[str] = []
    vision_type = (cfg.get("vision_config") or {}).get("model_type")
    tower = TOWER_NAMES.get(vision_type)
    if tower is None:
        problems.append(f"vision_config.model_type {vision_type!r}: vLLM's LLaVA builds only "
                        f"{' / '.join(TOWER_NAMES)} towers (llava.py:458-484)")
    if not (cfg.get("text_config") or {}).get("architectures"):
        problems.append("text_config has no architectures: vLLM picks the decoder class from them")
    mapped = as_vllm_names(names, prefix_map)
    skipped = skipped_by_vllm(names, cfg, prefix_map) if tower else set()
    for name, target in sorted(mapped.items()):
        if target.startswith(("language_model.model.", "language_model.lm_head.")) or PROJECTOR.fullmatch(target) \
                or name in skipped:
            continue
        rel = _in_tower(target)
        if rel is None or tower is None or not tower.fullmatch(rel):
            where = "outside every LLaVA module" if rel is None and not target.startswith("vision_tower.") else \
                "no parameter of the tower has this name"
            problems.append(f"{name} -> {target}: {where}")
    have = set(mapped.values())
    for need in ("language_model.model.embed_tokens.weight", TOWER + "embeddings.patch_embedding.weight",
                 "multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_2.weight"):
        if need not in have:
            problems.append(f"missing {need}")
    untied = not cfg.get("tie_word_embeddings", (cfg.get("text_config") or {}).get("tie_word_embeddings", False))
    if untied and "language_model.lm_head.weight" not in have:
        problems.append("missing language_model.lm_head.weight (the embeddings are not tied)")
    note = (f"{len(skipped)} tower tensors LLaVA never runs (post-norm, pooling head, layers past the feature "
            "layer) are kept for transformers and skipped by vLLM") if skipped else ""
    return {"checked": True, "engine": ENGINE, "ok": not problems, "problems": problems[:20],
            "tensors": len(names), "skipped_by_vllm": len(skipped), "note": note}
