"""ms-swift plugin: Qwen2.5-VL's vision tower with a Qwen3 decoder kept whole (`swiftplus graft`, host: donor).

ms-swift 4.6 knows Qwen2.5-VL only with Qwen2's decoder, which has no QK-norm. This registers

  model type `qwen2_5_vl_qwen3`: Qwen2_5_VLQwen3ForConditionalGeneration (swiftplus.plugins.models.qwen2_5_vl_qwen3:
      Qwen2.5-VL's vision, merger and 3-D rope index, Qwen3's decoder), loaded like Qwen2.5-VL (qwen_vl_utils
      pixel budgets, MAX_PIXELS), model arch qwen2_vl (vision_tower model.visual, aligner model.visual.merger,
      LLM model.language_model + lm_head), so --freeze_vit / --freeze_aligner / --freeze_llm work unchanged;
  template `qwen2_5_vl_qwen3`: Qwen3's chat format (hybrid thinking, the non-thinking prefix in training, hermes
      tool calls) with Qwen2.5-VL's image/video expansion and position ids.

Use: swift sft|deploy|export --external_plugins <this file> --model_type qwen2_5_vl_qwen3 --template qwen2_5_vl_qwen3
"""
import sys
from pathlib import Path

from swift.model import ModelArch, ModelGroup, ModelMeta, register_model
from swift.model.models.qwen import Qwen2_5VLLoader
from swift.template import register_template
from swift.template.templates.qwen import Qwen2_5VLTemplate, Qwen3MixedTemplateMeta

try:
    from swiftplus.plugins.models import qwen2_5_vl_qwen3 as hf
except ImportError:  # swift was started on this file from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from swiftplus.plugins.models import qwen2_5_vl_qwen3 as hf

MODEL_TYPE = TEMPLATE_TYPE = "qwen2_5_vl_qwen3"


class Qwen2_5_VLQwen3Loader(Qwen2_5VLLoader):

    def get_model(self, model_dir, *args, **kwargs):
        self.auto_model_cls = self.auto_model_cls or hf.Qwen2_5_VLQwen3ForConditionalGeneration
        return super().get_model(model_dir, *args, **kwargs)


register_template(Qwen3MixedTemplateMeta(TEMPLATE_TYPE, template_cls=Qwen2_5VLTemplate, is_thinking=True),
                  exist_ok=True)

register_model(
    ModelMeta(
        MODEL_TYPE,
        [ModelGroup([])],
        Qwen2_5_VLQwen3Loader,
        template=TEMPLATE_TYPE,
        model_arch=ModelArch.qwen2_vl,
        architectures=[hf.ARCHITECTURE],
        is_multimodal=True,
        requires=["qwen_vl_utils>=0.0.6"],
        tags=["vision", "video"],
    ),
    exist_ok=True)
