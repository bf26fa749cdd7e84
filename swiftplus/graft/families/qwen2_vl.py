"""Qwen2-VL: trained (seed 003's LoRA) and served as it is released; swiftplus grafts nothing into it.

It is registered as a family with no template model types, so what the other packages ask of it has one owner
too: its parameter counts (a ViT with LayerNorms and a GELU MLP sized by embed_dim x mlp_ratio, a bias-free
patch conv, the patch merger; Qwen2's decoder), the tiny checkpoint a rehearsal trains in its place
(swiftplus/fixtures/qwen2_vl.py, mirroring Qwen/Qwen2-VL-2B-Instruct), its ms-swift model type and template, and
the backends that serve it (all three).
"""
from __future__ import annotations

from swiftplus.graft.families.family import Family, Serving
from swiftplus.graft.families.sizes import linear, patch_merger, qwen_vit_kernel


class Qwen2_VL(Family):
    name = "qwen2_vl"
    architecture = "Qwen2VLForConditionalGeneration"
    swift_model_type = "qwen2_vl"
    swift_template = "qwen2_vl"
    sizes = ("qwen2_vl",)
    decoder_bias, qk_norm = True, False  # Qwen2's attention
    init_fixture = "qwen2-vl"
    serving = Serving((architecture,))

    def vision_params(self, cfg):
        v = cfg["vision_config"]
        h = v["embed_dim"]
        inter = h * v["mlp_ratio"]
        block = 4 * h + linear(h, 3 * h) + linear(h, h) + linear(h, inter) + linear(inter, h)
        return qwen_vit_kernel(v, h) + v["depth"] * block

    def aligner_params(self, cfg, out):
        v = cfg["vision_config"]
        return 2 * v["embed_dim"] + patch_merger(v["embed_dim"], v["spatial_merge_size"], out)  # ln_q has a bias

    def vision_dims(self, cfg):
        v = cfg["vision_config"]
        return v["embed_dim"], v["depth"], v["spatial_merge_size"] ** 2
