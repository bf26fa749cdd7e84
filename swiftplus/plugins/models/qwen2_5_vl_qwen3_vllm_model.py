"""The vLLM model for graft.host: donor; vLLM imports it lazily (see qwen2_5_vl_qwen3_vllm.py, which cites the
vLLM 0.33.0 source this follows). NOT YET RUN: vLLM is not installed where swiftplus is tested.

vLLM's Qwen2.5-VL, with its language model built as vLLM's Qwen3ForCausalLM from the text config (QK-norm,
explicit head_dim, sectioned M-RoPE from rope_parameters) instead of Qwen2ForCausalLM. Vision tower, merger,
multimodal processor, M-RoPE positions and checkpoint-name mapping are inherited unchanged.
"""
from torch import nn
from vllm.config import VllmConfig
from vllm.model_executor.layers.fusion.mm_input_norm import build_mm_input_norm
from vllm.model_executor.models.qwen2_5_vl import Qwen2_5_VisionTransformer, Qwen2_5_VLForConditionalGeneration
from vllm.model_executor.models.utils import init_vllm_registered_model, maybe_prefix


class Qwen2_5_VLQwen3ForConditionalGeneration(Qwen2_5_VLForConditionalGeneration):

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = ""):
        # Qwen2_5_VLForConditionalGeneration.__init__ (vllm 0.33.0 qwen2_5_vl.py:1418-1452) with one change: the
        # language model. Its __init__ cannot be called: it would build (and allocate) a Qwen2 decoder first.
        nn.Module.__init__(self)
        config = vllm_config.model_config.hf_config
        multimodal_config = vllm_config.model_config.get_multimodal_config()
        self.use_data_parallel = multimodal_config.mm_encoder_tp_mode == "data"
        self.config = config
        self.model_config = vllm_config.model_config
        self.vllm_config = vllm_config
        self.multimodal_config = multimodal_config
        self.video_pruning_rate = multimodal_config.video_pruning_rate
        self.is_multimodal_pruning_enabled = multimodal_config.is_multimodal_pruning_enabled()

        with self._mark_tower_model(vllm_config, {"image", "video"}):
            self.visual = Qwen2_5_VisionTransformer(
                vision_config=config.vision_config,
                norm_eps=getattr(config, "rms_norm_eps", 1e-6),
                quant_config=self.quant_config,
                input_norm=build_mm_input_norm(self.model_config),
                prefix=maybe_prefix(prefix, "visual"),
            )

        with self._mark_language_model(vllm_config):
            self.language_model = init_vllm_registered_model(
                vllm_config=vllm_config,
                hf_config=config.text_config,
                prefix=maybe_prefix(prefix, "language_model"),
                architectures=["Qwen3ForCausalLM"],
            )

        self.make_empty_intermediate_tensors = self.language_model.make_empty_intermediate_tensors
