"""Qwen2.5-VL template + Qwen3 (or Qwen2) donor: seed 000's pair.

Qwen2.5-VL's decoder is Qwen2's: q/k/v projections carry biases (zero where the donor has none) and
there is no per-head QK RMSNorm, so a Qwen3 donor's q_norm/k_norm cannot be hosted. The graft refuses
that loss unless graft.allow_dropped names it, and the report then measures how far the result is
from the donor. graft.host: donor (qwen2_5_vl_qwen3.py) hosts the same pair without the loss.
"""
from __future__ import annotations

from swiftplus.core.errors import UserError
from swiftplus.graft.config import TEXT_KEYS, donor_text_params, rewrite_qwen_vl_config
from swiftplus.graft.families.family import Family, Layout, Serving, TokenPlan, qwen_vision_tokens
from swiftplus.graft.families.sizes import linear, patch_merger, qwen_vit_kernel


class Qwen2_5_VL(Family):
    name = "qwen2_5_vl"
    template_model_types = ("qwen2_5_vl",)
    donor_model_types = ("qwen3", "qwen2")
    architecture = "Qwen2_5_VLForConditionalGeneration"
    swift_model_type = "qwen2_5_vl"
    swift_template = "qwen2_5_vl"
    sizes = ("qwen2_5_vl",)
    decoder_bias, qk_norm = True, False  # Qwen2's attention, whatever the donor's config says
    fixtures = {"qwen2_5_vl": "qwen2.5-vl"}
    init_fixture = "qwen2.5-vl"
    serving = Serving((architecture,))
    text_model_class = "Qwen2_5_VLTextModel"
    projector_module = "model.visual.merger"
    projector_out_patterns = (r"merger\.mlp\.2\.(weight|bias)$",)
    unhosted = {
        r"self_attn\.[qk]_norm\.weight$":
            "QK-norm: Qwen2.5-VL's decoder (Qwen2 attention) has no per-head RMSNorm on queries and keys, so "
            "attention scores are computed from un-normalised q/k and the grafted LLM is no longer the donor; "
            "expect large logit differences until stage-2 training re-adapts the decoder (graft.host: donor keeps "
            "the donor's own decoder, QK-norm included)",
    }
    required_biases = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")
    text_keys = tuple(k for k in TEXT_KEYS if k != "attention_bias")

    def layout(self, template_names):
        if any(n.startswith("visual.") for n in template_names):
            return Layout(("visual.",), "model.", name="hub")
        if any(n.startswith("model.visual.") for n in template_names):
            return Layout(("model.visual.",), "model.language_model.", name="transformers-5")
        raise UserError("template: no `visual.*` or `model.visual.*` tensors; this is not a Qwen2.5-VL checkpoint.")

    def check_pair(self, template_cfg, donor_cfg):
        if donor_cfg.get("model_type") not in self.donor_model_types:
            raise UserError(f"donor: model_type {donor_cfg.get('model_type')!r}; a Qwen2.5-VL template hosts "
                            f"{' or '.join(self.donor_model_types)} decoders.")
        d = donor_text_params(donor_cfg)
        if d["head_dim"] * d["num_attention_heads"] != d["hidden_size"]:
            raise UserError(
                f"donor: head_dim {d['head_dim']} x {d['num_attention_heads']} heads != hidden_size "
                f"{d['hidden_size']}. Qwen2.5-VL's attention derives head_dim as hidden_size / heads, so it "
                "cannot host this donor (e.g. Qwen3-0.6B/1.7B/4B); use a Qwen3-VL template instead.")

    def tokens(self, template_cfg, template_tok, donor_tok) -> TokenPlan:
        return qwen_vision_tokens(template_cfg, template_tok, donor_tok)

    def rewrite_config(self, template_cfg, donor_cfg, tokens, pad_token_id):
        return rewrite_qwen_vl_config(template_cfg, donor_cfg, self.text_keys, tokens.ids)

    # a windowed ViT: RMSNorm and SwiGLU blocks, a bias-free patch conv; the merger's RMSNorm (ln_q) and MLP
    def vision_params(self, cfg):
        v = cfg["vision_config"]
        h, inter = v["hidden_size"], v["intermediate_size"]
        block = 2 * h + linear(h, 3 * h) + linear(h, h) + 2 * linear(h, inter) + linear(inter, h)
        return qwen_vit_kernel(v, h) + v["depth"] * block

    def aligner_params(self, cfg, out):
        v = cfg["vision_config"]
        return v["hidden_size"] + patch_merger(v["hidden_size"], v["spatial_merge_size"], out)

    def vision_dims(self, cfg):
        v = cfg["vision_config"]
        return v["hidden_size"], v["depth"], v["spatial_merge_size"] ** 2
