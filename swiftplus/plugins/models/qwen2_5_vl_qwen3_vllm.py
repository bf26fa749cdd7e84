"""vLLM registration for graft.host: donor (Qwen2.5-VL vision + Qwen3's own decoder). NOT YET SERVED ON A GPU.

Why vLLM needs it: vLLM's Qwen2.5-VL builds its language model as `Qwen2ForCausalLM` (V/qwen2_5_vl.py:1444-1448),
whose attention has biased q/k/v and derives head_dim as hidden_size / heads (V/qwen2.py:150, 157-164); its
optional QK-norm (V/qwen2.py:175-177, for BAGEL) sits on that biased projection. Served there, the graft would
again not be Qwen3. The model registered here (qwen2_5_vl_qwen3_vllm_model.py, imported lazily by vLLM) is
vLLM's Qwen2.5-VL with one change: the language model is vLLM's `Qwen3ForCausalLM` built from the text config,
as vLLM's own Qwen3-VL builds its decoder (V/qwen3_vl.py:2043-2047). Its attention has q_norm/k_norm
(V/qwen3.py:153-154) and takes the rope from `rope_parameters` (V/qwen3.py:212), where `mrope_section` without
`mrope_interleaved` selects the sectioned M-RoPE (V/layers/rotary_embedding/__init__.py:113-124), the layout
transformers trains with (swiftplus/plugins/models/qwen2_5_vl_qwen3.py); positions come from Qwen2.5-VL's
`get_mrope_input_positions` (V/qwen2_5_vl.py:1371-1408), inherited.

How vLLM finds it: the `vllm.general_plugins` entry point (pyproject.toml) names `register`, which vLLM calls in
every process before it reads the model's config (V/plugins/__init__.py:18, 77-90); `register` makes
transformers' AutoConfig know the model type and adds the architecture to `ModelRegistry.register_model`
(V/registry.py:1173, 1176-1219) as a `module:Class` string, so vLLM imports the model only where it runs it.

V = vllm 0.33.0 (the release pip resolves with transformers <5.20), vllm/model_executor/models/ unless the
path says otherwise. What has run: the registration and the weight-name table below, tested on CPU without
vLLM (tests/plugins). What has not: vLLM loading and serving the model. Until it has served on a GPU,
SERVED_ON_GPU stays False and `swiftplus validate` refuses `infer_backend: vllm` for host: donor.
"""
from __future__ import annotations

import re

ARCHITECTURE = "Qwen2_5_VLQwen3ForConditionalGeneration"
MODEL_CLASS = f"swiftplus.plugins.models.qwen2_5_vl_qwen3_vllm_model:{ARCHITECTURE}"
SERVED_ON_GPU = False
NOT_SERVED = ("graft.host: donor keeps Qwen3's decoder, which vLLM's own Qwen2.5-VL does not build (it builds Qwen2's, "
              "without QK-norm); swiftplus ships a vLLM registration for it (swiftplus/plugins/models/"
              "qwen2_5_vl_qwen3_vllm.py) that has not served on a GPU yet. Use infer_backend: transformers, or graft "
              "with host: template to serve with vLLM.")

# Checkpoint name -> vLLM parameter name, in the order vLLM applies them.
# 1. the outer model's prefixes, each rule applied in turn to the result of the previous one
#    (V/qwen2_5_vl.py:1313-1322, V/utils.py:131-136)
PREFIXES = (
    ("model.language_model.", "language_model.model."),  # transformers-5 layout
    ("model.visual.", "visual."),
    ("lm_head.", "language_model.lm_head."),  # hub layout
    ("model.", "language_model.model."),
)
# 2. tensors vLLM stacks into one parameter: substring -> (replacement, shard)
DECODER_STACKED = (  # V/qwen2.py:325-334, inherited by Qwen3ForCausalLM (V/qwen3.py:283)
    (".q_proj", ".qkv_proj", "q"), (".k_proj", ".qkv_proj", "k"), (".v_proj", ".qkv_proj", "v"),
    (".gate_proj", ".gate_up_proj", 0), (".up_proj", ".gate_up_proj", 1),
)
VISION_STACKED = (  # V/qwen2_5_vl.py:623-631
    (".attn.q.", ".attn.qkv.", "q"), (".attn.k.", ".attn.qkv.", "k"), (".attn.v.", ".attn.qkv.", "v"),
    (".mlp.gate_proj.", ".mlp.gate_up_proj.", 0), (".mlp.up_proj.", ".mlp.gate_up_proj.", 1),
)
# 3. the decoder parameters vLLM's Qwen3ForCausalLM has (per layer i), by module:
DECODER_PARAMETERS = (
    r"language_model\.model\.embed_tokens\.weight",  # V/qwen2.py:371
    r"language_model\.model\.norm\.weight",  # V/qwen2.py:395
    r"language_model\.lm_head\.weight",  # V/qwen3.py:307
    r"language_model\.model\.layers\.\d+\.self_attn\.qkv_proj\.weight",  # V/qwen3.py:106, no bias unless
    r"language_model\.model\.layers\.\d+\.self_attn\.o_proj\.weight",  # V/qwen3.py:115    attention_bias
    r"language_model\.model\.layers\.\d+\.self_attn\.[qk]_norm\.weight",  # V/qwen3.py:153-154
    r"language_model\.model\.layers\.\d+\.(input|post_attention)_layernorm\.weight",  # V/qwen3.py:226-227
    r"language_model\.model\.layers\.\d+\.mlp\.(gate_up|down)_proj\.weight",  # V/qwen2.py:91, 98
)


def vllm_parameter(name: str) -> tuple[str, object]:
    """(vLLM parameter name, shard or None) for a checkpoint tensor of this model."""
    for prefix, new in PREFIXES:
        if name.startswith(prefix):
            name = new + name[len(prefix):]
    stacked = VISION_STACKED if name.startswith("visual.") else DECODER_STACKED
    for old, new, shard in stacked:
        if old in name:
            return name.replace(old, new, 1), shard
    return name, None


def is_decoder_parameter(name: str) -> bool:
    return any(re.fullmatch(p, name) for p in DECODER_PARAMETERS)


def register() -> None:
    """vLLM general plugin: make vLLM (and transformers' AutoConfig inside it) know the architecture."""
    from vllm import ModelRegistry

    from swiftplus.plugins.models import qwen2_5_vl_qwen3  # noqa: F401  (registers the config with AutoConfig)
    if ARCHITECTURE not in ModelRegistry.get_supported_archs():
        ModelRegistry.register_model(ARCHITECTURE, MODEL_CLASS)
