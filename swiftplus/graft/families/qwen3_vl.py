"""Qwen3-VL template + Qwen3 donor: seed 001's pair (deepstack mergers included).

Qwen3-VL's text decoder is Qwen3's with multimodal rope, so a Qwen3 donor is hosted exactly: every
donor tensor is copied, nothing is zero-initialised, and text-only logits equal the donor's.
The main merger and every deepstack merger end in a linear layer sized by the text width; those are
the only tensors re-initialised when the width changes.

Deepstack feature k is added to the output of decoder layer k. A donor shallower than the template's
deepstack taps would leave the last features computed but never injected (transformers skips them
silently): dead mergers that get no gradient and trip DDP's unused-parameter check. The graft keeps the
first `num_hidden_layers` taps and leaves the other mergers out; the model's output is the same.
"""
from __future__ import annotations

from swiftplus.core.errors import UserError
from swiftplus.graft.config import donor_text_params, rewrite_qwen_vl_config
from swiftplus.graft.families.family import Family, Layout, Serving, TokenPlan, qwen_vision_tokens
from swiftplus.graft.families.sizes import linear, patch_merger, qwen_vit_kernel


class Qwen3_VL(Family):
    name = "qwen3_vl"
    template_model_types = ("qwen3_vl",)
    donor_model_types = ("qwen3",)
    architecture = "Qwen3VLForConditionalGeneration"
    swift_model_type = "qwen3_vl"
    swift_template = "qwen3_vl"
    sizes = ("qwen3_vl",)
    fixtures = {"qwen3_vl": "qwen3-vl"}
    init_fixture = "qwen3-vl"
    serving = Serving((architecture,))
    text_model_class = "Qwen3VLTextModel"
    projector_module = "model.visual.merger"
    projector_out_patterns = (r"merger\.linear_fc2\.(weight|bias)$", r"deepstack_merger_list\.\d+\.linear_fc2\.(weight|bias)$")
    unhosted = {}
    required_biases = ()
    text_keys = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                 "num_key_value_heads", "head_dim", "hidden_act", "max_position_embeddings", "rms_norm_eps",
                 "attention_bias", "attention_dropout")

    def layout(self, template_names):
        if any(n.startswith("model.visual.") for n in template_names):
            return Layout(("model.visual.",), "model.language_model.", name="hub")
        raise UserError("template: no `model.visual.*` tensors; this is not a Qwen3-VL checkpoint.")

    def check_pair(self, template_cfg, donor_cfg):
        if donor_cfg.get("model_type") not in self.donor_model_types:
            raise UserError(f"donor: model_type {donor_cfg.get('model_type')!r}; a Qwen3-VL template hosts a "
                            "qwen3 decoder (QK-norm, no q/k/v bias).")
        d = donor_text_params(donor_cfg)
        if any(t != "full_attention" for t in d["layer_types"]):
            raise UserError("donor: uses sliding-window layers; Qwen3-VL's decoder has full attention only.")

    def tokens(self, template_cfg, template_tok, donor_tok) -> TokenPlan:
        return qwen_vision_tokens(template_cfg, template_tok, donor_tok)

    def rewrite_config(self, template_cfg, donor_cfg, tokens, pad_token_id):
        new = rewrite_qwen_vl_config(template_cfg, donor_cfg, self.text_keys, tokens.ids)
        vision = new.get("vision_config") or {}
        if "deepstack_visual_indexes" in vision:
            layers = donor_text_params(donor_cfg)["num_hidden_layers"]
            vision["deepstack_visual_indexes"] = _deepstack(template_cfg)[:layers]
        return new

    def unused_template(self, template_cfg, donor_cfg):
        layers = donor_text_params(donor_cfg)["num_hidden_layers"]
        taps = _deepstack(template_cfg)
        if len(taps) <= layers:
            return {}
        why = (f"deepstack merger for vision block(s) {taps[layers:]}: the donor has {layers} decoder layers, so "
               f"only the first {layers} of the template's {len(taps)} deepstack features can be injected; "
               "the rest would never reach the decoder")
        return {rf"deepstack_merger_list\.({'|'.join(str(k) for k in range(layers, len(taps)))})\.": why}

    # LayerNorms with bias, a GELU MLP, a learned position table, a biased patch conv; the main merger and one
    # per deepstack tap (each with its own LayerNorm)
    def vision_params(self, cfg):
        v = cfg["vision_config"]
        h, inter = v["hidden_size"], v["intermediate_size"]
        block = 4 * h + linear(h, 3 * h) + linear(h, h) + linear(h, inter) + linear(inter, h)
        return qwen_vit_kernel(v, h) + h + v["num_position_embeddings"] * h + v["depth"] * block

    def aligner_params(self, cfg, out):
        v = cfg["vision_config"]
        h, merge = v["hidden_size"], v["spatial_merge_size"]
        mlp = patch_merger(h, merge, out)
        return 2 * h + mlp + len(v.get("deepstack_visual_indexes") or ()) * (2 * h * merge ** 2 + mlp)

    def vision_dims(self, cfg):
        v = cfg["vision_config"]
        return v["hidden_size"], v["depth"], v["spatial_merge_size"] ** 2


def _deepstack(template_cfg: dict) -> list[int]:
    return list((template_cfg.get("vision_config") or {}).get("deepstack_visual_indexes") or [])
