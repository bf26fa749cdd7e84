"""Qwen2.5-VL's vision tower and merger feeding Qwen3's own decoder (QK-norm kept): the lossless host.

Qwen2.5-VL's decoder is Qwen2's, which has no per-head q/k RMSNorm, so a Qwen3 donor hosted there loses its
q_norm/k_norm and stops being Qwen3. This model keeps everything of Qwen2.5-VL but the decoder:

  vision      Qwen2.5-VL's vision tower and patch merger, unchanged (transformers' own classes);
  positions   Qwen2.5-VL's 3-D rope index (`Qwen2_5_VLModel.get_rope_index`, inherited): t/h/w rows per
              image patch, equal rows for text;
  decoder     Qwen3-VL's text decoder (Qwen3 attention with QK-norm, no bias), reused as is, with one
              change: its rotary embedding is Qwen2.5-VL's *sectioned* M-RoPE (frequency blocks
              [t | h | w] by `mrope_section`), not Qwen3-VL's interleaved one. The merger was trained to
              feed a decoder that read image positions in the sectioned layout, and the rope index that
              makes them is Qwen2.5-VL's; vLLM builds the same layout from `mrope_section` alone
              (`mrope_interleaved` absent = sectioned), so training and serving agree.

With text only, the three position rows are equal, both layouts reduce to the donor's 1-D rope and the
logits equal the donor's bit for bit (the graft proof measures it).

The classes register with AutoConfig / AutoModel / AutoModelForImageTextToText and with transformers'
checkpoint renaming (hub layout `visual.*` + `model.*` <-> in-memory `model.visual` / `model.language_model`,
exactly as Qwen2.5-VL's) when this module is imported.
"""
# no `from __future__ import annotations`: transformers reads each class's config class from its annotation

from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText
from transformers.conversion_mapping import get_checkpoint_conversion_mapping, register_checkpoint_conversion_mapping
from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLConfig, Qwen2_5_VLTextConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import (
    Qwen2_5_VisionTransformerPretrainedModel,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLModel,
    Qwen2_5_VLPreTrainedModel,
    Qwen2_5_VLRotaryEmbedding,
)
from transformers.models.qwen3_vl.configuration_qwen3_vl import Qwen3VLTextConfig
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextModel

MODEL_TYPE = "qwen2_5_vl_qwen3"
TEXT_MODEL_TYPE = "qwen2_5_vl_qwen3_text"
ARCHITECTURE = "Qwen2_5_VLQwen3ForConditionalGeneration"


class Qwen2_5_VLQwen3TextConfig(Qwen3VLTextConfig):
    """Qwen3's decoder numbers (head_dim, attention_bias, ...) plus the multimodal rope sections."""
    model_type = TEXT_MODEL_TYPE

    def convert_rope_params_to_dict(self, **kwargs):
        # hub-style configs spell the rope {"type": "mrope", "mrope_section": [...]}, as Qwen2.5-VL's do
        return Qwen2_5_VLTextConfig.convert_rope_params_to_dict(self, **kwargs)


class Qwen2_5_VLQwen3Config(Qwen2_5_VLConfig):
    model_type = MODEL_TYPE
    sub_configs = {**Qwen2_5_VLConfig.sub_configs, "text_config": Qwen2_5_VLQwen3TextConfig}


class Qwen2_5_VLQwen3TextModel(Qwen3VLTextModel):
    config: Qwen2_5_VLQwen3TextConfig

    def __init__(self, config):
        super().__init__(config)
        self.rotary_emb = Qwen2_5_VLRotaryEmbedding(config)  # sectioned, see the module docstring


class Qwen2_5_VLQwen3Model(Qwen2_5_VLModel):
    config: Qwen2_5_VLQwen3Config
    _no_split_modules = ["Qwen3VLTextDecoderLayer", "Qwen2_5_VLVisionBlock"]

    def __init__(self, config):
        Qwen2_5_VLPreTrainedModel.__init__(self, config)
        self.visual = Qwen2_5_VisionTransformerPretrainedModel._from_config(config.vision_config)
        self.language_model = Qwen2_5_VLQwen3TextModel._from_config(config.text_config)
        self.rope_deltas = None
        self.post_init()


class Qwen2_5_VLQwen3ForConditionalGeneration(Qwen2_5_VLForConditionalGeneration):
    config: Qwen2_5_VLQwen3Config
    _no_split_modules = Qwen2_5_VLQwen3Model._no_split_modules

    def __init__(self, config):
        Qwen2_5_VLPreTrainedModel.__init__(self, config)
        self.model = Qwen2_5_VLQwen3Model(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()


def register() -> None:
    """Make transformers' Auto classes and checkpoint renaming know the model (idempotent)."""
    AutoConfig.register(MODEL_TYPE, Qwen2_5_VLQwen3Config, exist_ok=True)
    AutoConfig.register(TEXT_MODEL_TYPE, Qwen2_5_VLQwen3TextConfig, exist_ok=True)
    AutoModel.register(Qwen2_5_VLQwen3Config, Qwen2_5_VLQwen3Model, exist_ok=True)
    AutoModel.register(Qwen2_5_VLQwen3TextConfig, Qwen2_5_VLQwen3TextModel, exist_ok=True)
    AutoModelForImageTextToText.register(Qwen2_5_VLQwen3Config, Qwen2_5_VLQwen3ForConditionalGeneration,
                                         exist_ok=True)
    for ours, theirs in ((Qwen2_5_VLQwen3ForConditionalGeneration, Qwen2_5_VLForConditionalGeneration),
                         (Qwen2_5_VLQwen3Model, Qwen2_5_VLModel)):
        register_checkpoint_conversion_mapping(ours.__name__, get_checkpoint_conversion_mapping(theirs.__name__),
                                               overwrite=True)


register()
