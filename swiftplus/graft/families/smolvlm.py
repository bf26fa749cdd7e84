"""SmolVLM2 / Idefics3 template + Qwen3 donor: seed 004's pair.

SmolVLM's text model is whatever `text_config` names, so the donor's config becomes text_config and a
Qwen3 decoder is hosted exactly. The connector (pixel shuffle + one linear layer) is rebuilt to the new
width. The donor's tokenizer is used; the vision markers reuse Qwen3's reserved vision tokens, so no
token is added and no embedding row is resized; image_token_id, pad and eos are rewritten everywhere.
ms-swift has no SmolVLM model type, so the graft ships a plugin (model type + Qwen3-format template).
"""
from __future__ import annotations

from swiftplus.core.errors import UserError
from swiftplus.graft.config import rewrite_replacing_text_config
from swiftplus.graft.families.family import Family, Layout, Serving, TokenPlan
from swiftplus.graft.families.sizes import linear, tower, vit_params

# Qwen3's reserved vision tokens take SmolVLM's marker roles (seed 004 used <|image_pad|> for <image>).
IMAGE_TOKEN = "<|image_pad|>"
FAKE_IMAGE_TOKEN = "<|vision_start|>"   # SmolVLM's <fake_token_around_image>
GLOBAL_IMAGE_TOKEN = "<|vision_pad|>"   # SmolVLM's <global-img>
VIDEO_TOKEN = "<|video_pad|>"
END_OF_UTTERANCE = "<|im_end|>"
VLLM_REFUSED = ("vLLM's Idefics3 implementation builds a Llama decoder, which has no slot for Qwen3's q_norm/k_norm. "
                "Serve it with deploy.infer_backend: transformers")


class SmolVLM(Family):
    name = "smolvlm"
    template_model_types = ("smolvlm", "idefics3")
    donor_model_types = ("qwen3",)
    architecture = "SmolVLMForConditionalGeneration"
    swift_model_type = "smolvlm_qwen3"
    swift_template = "smolvlm_qwen3"
    swift_plugin = "smolvlm_qwen3.py"
    sizes = template_model_types
    fixtures = {"smolvlm": "smolvlm2"}
    # vLLM builds SmolVLM and Idefics3 (vllm/model_executor/models/idefics3.py) with a Llama decoder whatever
    # text_config says, so a SmolVLM of Llama's is served there and the graft's Qwen3 decoder is not; LMDeploy
    # builds neither
    serving = Serving((architecture, "Idefics3ForConditionalGeneration"), ("transformers", "vllm"),
                      decoders={"vllm": "llama"}, refused={"vllm": VLLM_REFUSED})
    text_model_class = None  # AutoModel.from_config(text_config): the donor's own decoder
    projector_module = "model.connector"
    projector_out_patterns = (r"connector\.modality_projection\.proj\.(weight|bias)$",)
    unhosted = {}
    required_biases = ()
    keep_template_chat_template = False
    chat_template_file = "smolvlm_qwen3.jinja"

    def layout(self, template_names):
        if any(n.startswith("model.vision_model.") for n in template_names):
            return Layout(("model.vision_model.", "model.connector."), "model.text_model.", name="hub")
        raise UserError("template: no `model.vision_model.*` tensors; this is not a SmolVLM/Idefics3 checkpoint.")

    def check_pair(self, template_cfg, donor_cfg):
        if donor_cfg.get("model_type") not in self.donor_model_types:
            raise UserError(f"donor: model_type {donor_cfg.get('model_type')!r}; the SmolVLM graft's tokenizer, "
                            "chat format and ms-swift plugin are Qwen3's (model_type qwen3).")

    def tokens(self, template_cfg, template_tok, donor_tok) -> TokenPlan:
        required = {}
        for tok in (IMAGE_TOKEN, FAKE_IMAGE_TOKEN, GLOBAL_IMAGE_TOKEN, END_OF_UTTERANCE):
            tid = donor_tok.token_to_id(tok)
            if tid is None:
                raise UserError(f"donor: tokenizer has no {tok}; the SmolVLM graft maps its vision markers onto "
                                "Qwen3's reserved vision tokens. Use a Qwen3 tokenizer.")
            required[tok] = tid
        extra = {"image_token": IMAGE_TOKEN, "fake_image_token": FAKE_IMAGE_TOKEN,
                 "global_image_token": GLOBAL_IMAGE_TOKEN, "end_of_utterance_token": END_OF_UTTERANCE}
        if donor_tok.token_to_id(VIDEO_TOKEN) is not None:
            extra["video_token"] = VIDEO_TOKEN
        return TokenPlan({"image_token_id": required[IMAGE_TOKEN]}, required, extra)

    def rewrite_config(self, template_cfg, donor_cfg, tokens, pad_token_id):
        return rewrite_replacing_text_config(template_cfg, donor_cfg, tokens.ids, pad_token_id)

    # SigLIP without its pooling head, then pixel shuffle (scale_factor^2 patches a row) and one bias-free linear
    def _tower(self, cfg: dict) -> dict:
        return tower(dict(cfg.get("vision_config") or {}), f"{cfg['model_type']}_vision")[1]

    def vision_params(self, cfg):
        return vit_params("siglip", self._tower(cfg), head=False)

    def aligner_params(self, cfg, out):
        return linear(self._tower(cfg)["hidden_size"] * cfg["scale_factor"] ** 2, out, bias=False)

    def vision_dims(self, cfg):
        t = self._tower(cfg)
        return t["hidden_size"], t["num_hidden_layers"], cfg["scale_factor"] ** 2
