"""Tiny real-architecture checkpoints for the graft tests, built locally with transformers (no hub).

Tokenizers carry Qwen's special tokens at their real ids (151643...), because ms-swift's Qwen templates
hard-code them; the embedding is therefore 151936 rows of a small width.
"""
from __future__ import annotations

from pathlib import Path

QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
                "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>",
                "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>"]
VOCAB = 151936


def qwen_tokenizer(out: Path):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for i in range(len(vocab), 151643):
        vocab[f"<unused{i}>"] = i
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in QWEN_SPECIAL])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.save_pretrained(out)
    return fast


def _perturb_norms(model):
    import torch
    with torch.no_grad():  # norms at exactly 1 would hide a dropped or misplaced norm weight
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)


def qwen3(out: Path, *, tied: bool = False, hidden: int = 64, heads: int = 4, head_dim: int = 16, seed: int = 0):
    import torch
    import transformers
    cfg = transformers.Qwen3Config(hidden_size=hidden, intermediate_size=96, num_hidden_layers=2,
                                   num_attention_heads=heads, num_key_value_heads=2, head_dim=head_dim,
                                   vocab_size=VOCAB, tie_word_embeddings=tied, bos_token_id=151643,
                                   eos_token_id=151645, max_window_layers=2,
                                   rope_parameters={"rope_type": "default", "rope_theta": 1e6})
    torch.manual_seed(seed)
    model = transformers.Qwen3ForCausalLM(cfg)
    _perturb_norms(model)
    model.to(torch.bfloat16).save_pretrained(out)
    qwen_tokenizer(out)
    return Path(out)


def _qwen_processor(out: Path, cls_name: str, patch: int):
    import transformers
    tok = qwen_tokenizer(out)
    ip = transformers.Qwen2VLImageProcessor(patch_size=patch, merge_size=2, min_pixels=(patch * 2) ** 2 * 4,
                                            max_pixels=(patch * 2) ** 2 * 16)
    vp = transformers.Qwen2VLVideoProcessor(patch_size=patch, merge_size=2)
    getattr(transformers, cls_name)(image_processor=ip, tokenizer=tok, video_processor=vp).save_pretrained(out)


def qwen2_5_vl(out: Path, seed: int = 1):
    import torch
    import transformers
    cfg = transformers.Qwen2_5_VLConfig(
        text_config=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=VOCAB,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]}),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=48,
                           fullatt_block_indexes=[1], window_size=56))
    torch.manual_seed(seed)
    transformers.Qwen2_5_VLForConditionalGeneration(cfg).to(torch.bfloat16).save_pretrained(out)
    _qwen_processor(out, "Qwen2_5_VLProcessor", 14)
    return Path(out)


def qwen3_vl(out: Path, seed: int = 2):
    import torch
    import transformers
    cfg = transformers.Qwen3VLConfig(
        text_config=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=16, vocab_size=VOCAB,
                         rope_parameters={"rope_type": "default", "rope_theta": 5e6, "mrope_section": [2, 3, 3],
                                          "mrope_interleaved": True}),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=48,
                           deepstack_visual_indexes=[0, 1], num_position_embeddings=64, patch_size=16))
    torch.manual_seed(seed)
    transformers.Qwen3VLForConditionalGeneration(cfg).to(torch.bfloat16).save_pretrained(out)
    _qwen_processor(out, "Qwen3VLProcessor", 16)
    return Path(out)


def smolvlm2(out: Path, seed: int = 3):
    import torch
    import transformers
    cfg = transformers.SmolVLMConfig(
        text_config=dict(model_type="llama", hidden_size=40, intermediate_size=80, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=49280),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=64, patch_size=16),
        scale_factor=2, image_token_id=49190)
    torch.manual_seed(seed)
    transformers.SmolVLMForConditionalGeneration(cfg).to(torch.bfloat16).save_pretrained(out)
    tok = qwen_tokenizer(out)  # stands in for SmolLM2's tokenizer: the graft replaces it with the donor's
    ip = transformers.SmolVLMImageProcessor(do_image_splitting=False, size={"longest_edge": 64},
                                            max_image_size={"longest_edge": 64})
    vp = transformers.SmolVLMVideoProcessor(size={"longest_edge": 64}, max_image_size={"longest_edge": 64})
    transformers.SmolVLMProcessor(image_processor=ip, tokenizer=tok, video_processor=vp,
                                  image_seq_len=4).save_pretrained(out)
    return Path(out)


BUILDERS = {"qwen3": qwen3, "qwen3-tied": lambda o: qwen3(o, tied=True), "qwen2.5-vl": qwen2_5_vl,
            "qwen3-vl": qwen3_vl, "smolvlm2": smolvlm2}


def build(name: str, out: Path) -> Path:
    out = Path(out)
    if not (out / "config.json").is_file():
        out.mkdir(parents=True, exist_ok=True)
        BUILDERS[name](out)
    return out
