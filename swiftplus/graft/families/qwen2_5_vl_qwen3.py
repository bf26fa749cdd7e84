"""Qwen2.5-VL template + Qwen3 donor with the donor's own decoder (graft.host: donor): seed 000's pair, lossless.

The `qwen2_5_vl` family hosts the donor in Qwen2.5-VL's decoder, which cannot carry QK-norm. This one keeps
Qwen2.5-VL's vision tower, merger, processor and 3-D rope index and replaces the decoder itself with Qwen3's
(the model is defined in swiftplus/plugins/models/qwen2_5_vl_qwen3.py and registered with ms-swift by the
`qwen2_5_vl_qwen3` plugin): every donor tensor is copied, q_norm/k_norm included, nothing is zero-initialised,
and text-only logits equal the donor's. Only the merger's output layer is new (sized by the donor's width).

The checkpoint keeps the template's tensor layout (hub `visual.*` + `model.*`, or transformers 5's) and
config schema; model_type and architectures name the new model, and the text level carries the donor's
head_dim and attention_bias next to the template's rope sections (rescaled to the donor's head_dim).
"""
from __future__ import annotations

from swiftplus.core.errors import UserError
from swiftplus.graft.config import TEXT_KEYS, donor_text_params, rewrite_qwen_vl_config, text_level
from swiftplus.graft.families.family import Serving
from swiftplus.graft.families.qwen2_5_vl import Qwen2_5_VL
from swiftplus.graft.families.sizes import decoder_params, text_config
from swiftplus.plugins.models import qwen2_5_vl_qwen3_vllm as vllm_model

# the names swiftplus/plugins/models/qwen2_5_vl_qwen3.py registers (read here without importing torch)
MODEL_TYPE = "qwen2_5_vl_qwen3"
TEXT_MODEL_TYPE = "qwen2_5_vl_qwen3_text"


class Qwen2_5_VL_Qwen3(Qwen2_5_VL):
    name = "qwen2_5_vl_qwen3"
    host = "donor"
    architecture = "Qwen2_5_VLQwen3ForConditionalGeneration"
    swift_model_type = "qwen2_5_vl_qwen3"
    swift_template = "qwen2_5_vl_qwen3"
    swift_plugin = "qwen2_5_vl_qwen3.py"
    transformers_module = "swiftplus.plugins.models.qwen2_5_vl_qwen3"
    text_model_class = "Qwen2_5_VLQwen3TextModel"
    unhosted = {}
    required_biases = ()
    text_keys = TEXT_KEYS
    donor_model_types = ("qwen3",)
    keep_template_chat_template = False  # Qwen3's chat format, matching the ms-swift template
    chat_template_file = "qwen2_5_vl_qwen3.jinja"
    sizes = (MODEL_TYPE,)
    init_fixture = None  # a Qwen2.5-VL checkpoint is not one of these: only a graft is

    @property
    def serving(self):
        """transformers through the plugin; vLLM through swiftplus's own registration once it has served on a GPU
        (read when asked: the registration module says whether it has)."""
        if vllm_model.SERVED_ON_GPU:
            return Serving((self.architecture,), ("transformers", "vllm"))
        return Serving((self.architecture,), ("transformers",), untested={"vllm": vllm_model.NOT_SERVED})

    def llm_params(self, cfg):
        # Qwen3's decoder: QK-norm always, q/k/v biases only where the donor's config has them
        return decoder_params(cfg, bias=bool(text_config(cfg).get("attention_bias", False)), qk_norm=True)

    def check_pair(self, template_cfg, donor_cfg):
        if donor_cfg.get("model_type") not in self.donor_model_types:
            raise UserError(f"donor: model_type {donor_cfg.get('model_type')!r}; graft.host: donor keeps the donor's "
                            "own decoder, which swiftplus provides for qwen3 donors. For a qwen2 donor use "
                            "host: template (Qwen2.5-VL's decoder is Qwen2's).")
        if any(t != "full_attention" for t in donor_text_params(donor_cfg)["layer_types"]):
            raise UserError("donor: uses sliding-window layers; the hosted Qwen3 decoder has full attention only.")

    def rewrite_config(self, template_cfg, donor_cfg, tokens, pad_token_id):
        new = rewrite_qwen_vl_config(template_cfg, donor_cfg, self.text_keys, tokens.ids)
        new["model_type"] = MODEL_TYPE
        new["architectures"] = [self.architecture]
        if "text_config" in new:
            text_level(new)["model_type"] = TEXT_MODEL_TYPE
        return new
