"""ms-swift plugin: a CLIP/SigLIP vision tower grafted onto a donor LLM in the llava-hf layout (`swiftplus graft`,
llava family).

ms-swift 4.6 pairs its llava_hf model types with fixed chat formats (Vicuna, Llama-3, ChatML with a hard-coded
image id 151646), and its LlavaHfTemplate writes a literal '<image>', which a donor's tokenizer does not have.
This registers, for each donor chat format the llava family knows,

  model type `llava_<format>`: loaded with LlavaForConditionalGeneration, model arch llava_hf (vision tower
      model.vision_tower, aligner model.multi_modal_projector, LLM model.language_model + lm_head), so
      --freeze_vit / --freeze_aligner / --freeze_llm act on the three parts;
  template `llava_<format>`: ms-swift's own template for the donor's chat format, with LlavaHfTemplate's image
      handling; an image is written as the processor's image token (a special token the donor's tokenizer
      already has) and expanded to the tower's feature count. In vLLM mode it stays one token: vLLM expands it.

Formats: qwen3 (ChatML, hybrid thinking, hermes tool calls), llama3 (Llama-3 headers).
Use: swift sft|deploy|infer --external_plugins <this file> --model_type llava_qwen3 --template llava_qwen3
"""
from typing import List

from swift.model import ModelArch, ModelGroup, ModelLoader, ModelMeta, register_model
from swift.template import register_template
from swift.template.templates.llama import Llama3TemplateMeta
from swift.template.templates.llava import LlavaHfTemplate
from swift.template.templates.qwen import Qwen3MixedTemplateMeta


class LlavaGraftLoader(ModelLoader):

    def get_model(self, model_dir, *args, **kwargs):
        from transformers import LlavaForConditionalGeneration
        self.auto_model_cls = self.auto_model_cls or LlavaForConditionalGeneration
        return super().get_model(model_dir, *args, **kwargs)


class LlavaGraftTemplate(LlavaHfTemplate):

    def _init_placeholder_tokens(self):
        # LlavaHfTemplate's list is a class attribute naming '<image>'; here the image token is the processor's
        self.placeholder_tokens = []
        super()._init_placeholder_tokens()

    def replace_tag(self, media_type, index, inputs) -> List:
        if media_type != "image":
            raise ValueError(f"{self.template_meta.template_type}: only images are supported, got {media_type}")
        return [self.processor.image_token]


# donor chat format -> ms-swift's TemplateMeta for it (the names must match DONOR_CHATS in graft/families/llava.py)
TEMPLATE_METAS = {
    "qwen3": lambda name: Qwen3MixedTemplateMeta(name, template_cls=LlavaGraftTemplate, is_thinking=True),
    "llama3": lambda name: Llama3TemplateMeta(name, template_cls=LlavaGraftTemplate),
}

for chat_format, template_meta in TEMPLATE_METAS.items():
    name = f"llava_{chat_format}"
    register_template(template_meta(name), exist_ok=True)
    register_model(
        ModelMeta(
            name,
            [ModelGroup([])],
            LlavaGraftLoader,
            template=name,
            model_arch=ModelArch.llava_hf,
            architectures=["LlavaForConditionalGeneration"],
            is_multimodal=True,
            tags=["vision"],
        ),
        exist_ok=True)
