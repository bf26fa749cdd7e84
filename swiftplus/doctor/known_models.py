"""The shipped recipes' hub models, as far as the estimator reads their config.json (data).

Used only while a model is neither a local path nor in the hub cache, so the doctor can size a run before
anything is downloaded. The numbers are the hub configs' own; tests check that each gives its published
size (PUBLISHED, from the model cards) and, where tests/graft/hub_configs.py holds the full hub config,
that both give the same counts.
"""
from __future__ import annotations

_QWEN3 = {"model_type": "qwen3", "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
          "torch_dtype": "bfloat16"}

CONFIGS: dict[str, dict] = {
    "Qwen/Qwen2.5-VL-7B-Instruct": {
        "model_type": "qwen2_5_vl", "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
        "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "in_chans": 3,
                          "out_hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2,
                          "temporal_patch_size": 2}},
    "Qwen/Qwen3-8B": {**_QWEN3, "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
                      "num_attention_heads": 32, "tie_word_embeddings": False},
    "Qwen/Qwen3-0.6B": {**_QWEN3, "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
                        "num_attention_heads": 16, "tie_word_embeddings": True},
    "Qwen/Qwen3-VL-2B-Instruct": {
        "model_type": "qwen3_vl", "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "text_config": {**_QWEN3, "model_type": "qwen3_vl_text", "hidden_size": 2048, "intermediate_size": 6144,
                        "num_hidden_layers": 28, "num_attention_heads": 16},
        "vision_config": {"deepstack_visual_indexes": [5, 11, 17], "depth": 24, "hidden_size": 1024,
                          "in_channels": 3, "intermediate_size": 4096, "num_position_embeddings": 2304,
                          "out_hidden_size": 2048, "patch_size": 16, "spatial_merge_size": 2,
                          "temporal_patch_size": 2}},
    "HuggingFaceTB/SmolVLM2-256M-Video-Instruct": {
        "model_type": "smolvlm", "scale_factor": 4, "torch_dtype": "bfloat16",
        "text_config": {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
                        "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
                        "head_dim": 64, "vocab_size": 49280, "tie_word_embeddings": False},
        "vision_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                          "patch_size": 16, "image_size": 512}},
    # google/siglip-so400m-patch14-384's config.json as its hub page shows it (written from memory of that
    # page, not fetched: no hub is reachable here); the text tower keeps SiglipTextConfig's defaults
    # (vocab 32000, 64 positions); tests/graft/hub_configs.py holds the same numbers.
    "google/siglip-so400m-patch14-384": {
        "model_type": "siglip", "torch_dtype": "float32",
        "text_config": {"model_type": "siglip_text_model", "hidden_size": 1152, "intermediate_size": 4304,
                        "num_attention_heads": 16, "num_hidden_layers": 27},
        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "intermediate_size": 4304,
                          "num_attention_heads": 16, "num_hidden_layers": 27, "image_size": 384,
                          "patch_size": 14}},
    "Qwen/Qwen2-VL-2B-Instruct": {
        "model_type": "qwen2_vl", "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
        "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "vision_config": {"depth": 32, "embed_dim": 1280, "hidden_size": 1536, "mlp_ratio": 4, "in_chans": 3,
                          "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}},
}
CONFIGS["AI-ModelScope/siglip-so400m-patch14-384"] = CONFIGS["google/siglip-so400m-patch14-384"]  # its ModelScope copy

# Parameters as the model cards / hub pages state them (rounded as published).
PUBLISHED: dict[str, float] = {
    "Qwen/Qwen2.5-VL-7B-Instruct": 8.29e9,  # hub page: "8.29B params"
    "Qwen/Qwen3-8B": 8.2e9,  # model card: "Number of Parameters: 8.2B"
    "Qwen/Qwen3-0.6B": 0.6e9,  # model card: "Number of Parameters: 0.6B"
    "Qwen/Qwen3-VL-2B-Instruct": 2.13e9,  # hub page: "2.13B params"
    "HuggingFaceTB/SmolVLM2-256M-Video-Instruct": 0.256e9,  # model card: 256M parameters
    "Qwen/Qwen2-VL-2B-Instruct": 2.21e9,  # hub page: "2.21B params"
    # hub page: "878M params" (F32): the 428M vision tower with its pooling head + the 450M text tower
    "google/siglip-so400m-patch14-384": 0.878e9,
    "AI-ModelScope/siglip-so400m-patch14-384": 0.878e9,
}

# Hub datasets whose media ms-swift downloads beside the rows (an allowance in bytes, not a measurement).
# LLaVA-Instruct-150K: swift's LLaVAInstructPreprocessor fetches the COCO, GQA, OCR-VQA, TextVQA and
# Visual Genome image archives (MediaResource) and extracts them next to the archives.
DATASET_BYTES: dict[str, float] = {"AI-ModelScope/LLaVA-Instruct-150K": 130e9}
DATASET_DEFAULT_BYTES = 20e9  # any other dataset named by hub id
