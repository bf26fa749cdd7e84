"""ms-swift plugin: a SmolVLM2/Idefics3 vision tower grafted onto Qwen3 (`swiftplus graft`, smolvlm family).

ms-swift 4.6 has no smolvlm model type, and its idefics3 template hard-codes Llama-3's chat format and
image token id 128257. This registers

  model type `smolvlm_qwen3`: loaded with AutoModelForImageTextToText (SmolVLMForConditionalGeneration),
      model arch idefics3 (vision_tower model.vision_model, aligner model.connector, LLM model.text_model),
      so --freeze_vit / --freeze_aligner / --freeze_llm work;
  template `smolvlm_qwen3`: Qwen3's chat format (thinking, tool calls: hermes agent template), each image
      expanded into SmolVLM's tiled token layout using the processor's own image tokens and sequence length.

Use: swift sft|deploy|infer --external_plugins <this file> --model_type smolvlm_qwen3 --template smolvlm_qwen3
"""
from typing import Any, Dict, List

import torch
from swift.model import ModelArch, ModelGroup, ModelLoader, ModelMeta, register_model
from swift.template import Template, register_template
from swift.template.templates.qwen import Qwen3MixedTemplateMeta

MODEL_TYPE = TEMPLATE_TYPE = "smolvlm_qwen3"


class SmolVLMQwen3Loader(ModelLoader):

    def get_model(self, model_dir, *args, **kwargs):
        from transformers import AutoModelForImageTextToText
        self.auto_model_cls = self.auto_model_cls or AutoModelForImageTextToText
        return super().get_model(model_dir, *args, **kwargs)


class SmolVLMQwen3Template(Template):
    placeholder_tokens = ["<|image_pad|>"]

    def _tokens(self):
        p = self.processor
        return (getattr(p, "image_token", "<|image_pad|>"), getattr(p, "fake_image_token", "<|vision_start|>"),
                getattr(p, "global_image_token", "<|vision_pad|>"))

    def replace_tag(self, media_type, index, inputs) -> List:
        if media_type != "image":
            raise ValueError(f"{TEMPLATE_TYPE}: only images are supported, got {media_type}")
        image_token, fake, global_img = self._tokens()
        if self.mode == "vllm":
            return [image_token]  # vLLM's SmolVLM processor expands it
        from transformers.models.smolvlm.processing_smolvlm import get_image_prompt_string
        out = self.processor.image_processor(images=[[inputs.images[index]]], return_row_col_info=True)
        return [get_image_prompt_string(out["rows"][0][0], out["cols"][0][0], self.processor.image_seq_len,
                                        fake_token_around_image=fake, image_token=image_token,
                                        global_image_token=global_img)]

    def _encode(self, inputs) -> Dict[str, Any]:
        encoded = super()._encode(inputs)
        if inputs.images:
            out = self.processor.image_processor(images=[inputs.images], return_tensors="pt")
            encoded["pixel_values"] = out["pixel_values"]
            if "pixel_attention_mask" in out:
                encoded["pixel_attention_mask"] = out["pixel_attention_mask"]
        return encoded

    def _data_collator_mm_data(self, batch: List[Dict[str, Any]]) -> Dict[str, Any]:
        # samples carry different numbers of tiles: pad with all-zero tiles, which SmolVLM drops
        res = {}
        for key in ("pixel_values", "pixel_attention_mask"):
            values = [b[key] for b in batch if b.get(key) is not None]
            if not values:
                continue
            tiles = max(v.shape[1] for v in values)
            padded = []
            for v in values:
                pad = torch.zeros((v.shape[0], tiles - v.shape[1], *v.shape[2:]), dtype=v.dtype)
                padded.append(torch.cat([v, pad], dim=1))
            res[key] = torch.cat(padded)
        return res


register_template(Qwen3MixedTemplateMeta(TEMPLATE_TYPE, template_cls=SmolVLMQwen3Template, is_thinking=True),
                  exist_ok=True)

register_model(
    ModelMeta(
        MODEL_TYPE,
        [ModelGroup([])],
        SmolVLMQwen3Loader,
        template=TEMPLATE_TYPE,
        model_arch=ModelArch.idefics3,
        architectures=["SmolVLMForConditionalGeneration", "Idefics3ForConditionalGeneration"],
        is_multimodal=True,
        tags=["vision"],
    ),
    exist_ok=True)
