"""graft.host: donor on the tiny fixtures: Qwen2.5-VL's vision + Qwen3's own decoder, every donor tensor kept,
text logits equal to the donor's bit for bit, image positions from Qwen2.5-VL's rope index in its sectioned
layout; and the pairs it refuses."""
import json
import shutil

import pytest
import torch

from swiftplus.core.errors import UserError
from swiftplus.graft import graft
from swiftplus.graft.safetensors_io import scan_checkpoint
from tests.graft.conftest import PAIRS, quiet

HOST = "qwen2_5_vl_qwen3"


def _config(d):
    return json.loads((d / "config.json").read_text())


def _hf():
    from swiftplus.plugins.models import qwen2_5_vl_qwen3
    return qwen2_5_vl_qwen3


def test_every_donor_tensor_is_copied_and_text_logits_equal_the_donor(grafted, built):
    res, seed000 = grafted(HOST), grafted("qwen2_5_vl")
    rep = res.report
    donor = built(PAIRS[HOST][1])
    layers = _config(donor)["num_hidden_layers"]
    qk_norm = {f"model.layers.{i}.self_attn.{n}_norm.weight" for i in range(layers) for n in "qk"}
    assert rep["dropped"] == [] and rep["zero_init"] == [] and rep["expect_exact_text"]
    assert qk_norm <= set(rep["copied_from_donor"])  # copied, under the hub layout's names
    assert set(rep["copied_from_donor"]) == set(scan_checkpoint(donor))
    assert set(rep["fresh_init"]) == {"visual.merger.mlp.2.weight", "visual.merger.mlp.2.bias"}
    te = rep["text_equivalence"]
    assert te["checked"] and te["full_depth"] and te["layers"] == layers and te["max_abs_diff"] == 0.0
    vr = rep["vision_reachability"]
    assert vr["ok"] and vr["template"] == HOST and vr["image_tokens"] == vr["image_features"] > 0
    assert rep["load_check"] == {"checked": True, "class": "Qwen2_5_VLQwen3ForConditionalGeneration", "ok": True,
                                 "problems": {}, "how": "tensor names and shapes"}
    summary = (res.output_dir / "graft_summary.txt").read_text()
    assert "max |diff| = 0 -> equal to the donor" in summary and "0 donor tensors dropped" in summary
    # the same pair in seed 000's host loses the QK-norm and with it the donor
    assert seed000.report["text_equivalence"]["max_abs_diff"] > 1e-3 and len(seed000.report["dropped"]) == len(qk_norm)


def test_config_names_the_host_and_carries_the_donor_decoder(grafted, built):
    cfg = _config(grafted(HOST).output_dir)
    template, donor = _config(built(PAIRS[HOST][0])), _config(built(PAIRS[HOST][1]))
    hf = _hf()  # the family writes the names the model module registers
    assert cfg["model_type"] == hf.MODEL_TYPE and cfg["architectures"] == [hf.ARCHITECTURE]
    for key in ("hidden_size", "head_dim", "num_attention_heads", "num_key_value_heads", "intermediate_size",
                "num_hidden_layers", "vocab_size", "rope_theta", "attention_bias"):
        assert cfg[key] == donor[key], key
    # the template's rope sections (Qwen2.5-VL's proportions), sectioned: no interleaving
    assert cfg["rope_scaling"] == template["rope_scaling"] and "mrope_interleaved" not in cfg["rope_scaling"]
    assert sum(cfg["rope_scaling"]["mrope_section"]) == donor["head_dim"] // 2
    assert cfg["vision_config"]["out_hidden_size"] == donor["hidden_size"]
    assert not [n for n in scan_checkpoint(grafted(HOST).output_dir) if n.endswith("_proj.bias") and ".layers." in n]
    marker = json.loads((grafted(HOST).output_dir / "swiftplus_graft.json").read_text())
    assert marker["swift_model_type"] == marker["swift_template"] == HOST
    assert [p.rsplit("/", 1)[1] for p in marker["swift_external_plugins"]] == ["qwen2_5_vl_qwen3.py"]


def test_the_whole_model_answers_text_exactly_as_the_donor(grafted, built):
    from transformers import AutoModelForCausalLM

    hf = _hf()
    model = hf.Qwen2_5_VLQwen3ForConditionalGeneration.from_pretrained(grafted(HOST).output_dir,
                                                                       dtype=torch.float32).eval()
    donor = AutoModelForCausalLM.from_pretrained(built(PAIRS[HOST][1]), dtype=torch.float32).eval()
    ids = torch.tensor([[151644, 872, 198, 3838, 374, 220, 17, 10, 17, 30, 151645, 198]])
    # text only: Qwen2.5-VL's rope index gives three equal rows, and the sectioned rope reduces to 1-D rope
    positions, _ = model.model.get_rope_index(ids, mm_token_type_ids=torch.zeros_like(ids))
    assert torch.equal(positions[0], positions[1]) and torch.equal(positions[1], positions[2])
    with torch.no_grad():
        want = donor(input_ids=ids).logits
        assert torch.equal(model(input_ids=ids).logits, want)
        assert torch.equal(model(input_ids=ids, position_ids=positions).logits, want)


def test_image_positions_are_qwen2_5_vl_rope_index_in_its_sectioned_layout(grafted):
    from PIL import Image
    from transformers import AutoProcessor
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel, Qwen2_5_VLRotaryEmbedding
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextRotaryEmbedding

    hf = _hf()
    out = grafted(HOST).output_dir
    model = hf.Qwen2_5_VLQwen3ForConditionalGeneration.from_pretrained(out, dtype=torch.float32).eval()
    assert type(model.model).get_rope_index is Qwen2_5_VLModel.get_rope_index
    processor = AutoProcessor.from_pretrained(out)
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                                       {"type": "text", "text": "Colour?"}]}],
                                         add_generation_prompt=True)
    inputs = processor(text=[text], images=[Image.new("RGB", (56, 56), (200, 40, 40))], return_tensors="pt")
    positions, _ = model.model.get_rope_index(inputs["input_ids"], image_grid_thw=inputs["image_grid_thw"],
                                              mm_token_type_ids=inputs["mm_token_type_ids"])
    image = inputs["input_ids"][0] == model.config.image_token_id
    assert image.sum() > 1 and not torch.equal(positions[1, 0, image], positions[2, 0, image])  # h and w differ

    rope = model.model.language_model.rotary_emb
    assert isinstance(rope, Qwen2_5_VLRotaryEmbedding) and not isinstance(rope, Qwen3VLTextRotaryEmbedding)
    text_cfg = model.config.text_config
    x = torch.zeros(1, dtype=torch.float32)
    cos, _ = rope(x, positions)
    sectioned, _ = Qwen2_5_VLRotaryEmbedding(text_cfg)(x, positions)
    interleaved, _ = Qwen3VLTextRotaryEmbedding(text_cfg)(x, positions)
    assert torch.equal(cos, sectioned) and not torch.allclose(cos, interleaved)
    with torch.no_grad():
        a = model(**inputs).logits
        b = model(**{**inputs, "pixel_values": -inputs["pixel_values"]}).logits
    assert not torch.allclose(a, b)  # the image reaches the decoder


def test_a_donor_qwen2_5_vl_attention_cannot_host_is_hosted_exactly(built, tmp_path):
    """Qwen3-0.6B's shape (heads x head_dim != hidden, tied embeddings): host: template refuses it."""
    res = graft(built("qwen2.5-vl"), built("qwen3-tied"), tmp_path / "g", host="donor", log=quiet)
    rep = res.report
    assert rep["text_equivalence"]["max_abs_diff"] == 0.0 and rep["vision_reachability"]["ok"]
    assert rep["load_check"]["ok"] and rep["dropped"] == []
    cfg = _config(res.output_dir)
    assert cfg["tie_word_embeddings"] is True and "lm_head.weight" not in scan_checkpoint(res.output_dir)
    assert cfg["num_attention_heads"] * cfg["head_dim"] != cfg["hidden_size"]


def test_a_template_saved_by_transformers_5_keeps_its_nested_config(built, tmp_path):
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    template = tmp_path / "template"
    Qwen2_5_VLForConditionalGeneration.from_pretrained(built("qwen2.5-vl")).save_pretrained(template)
    AutoProcessor.from_pretrained(built("qwen2.5-vl")).save_pretrained(template)
    assert "text_config" in _config(template)
    res = graft(template, built("qwen3"), tmp_path / "g", host="donor", log=quiet)
    assert res.report["text_equivalence"]["max_abs_diff"] == 0.0 and res.report["load_check"]["ok"]
    text = _config(res.output_dir)["text_config"]
    assert text["model_type"] == "qwen2_5_vl_qwen3_text" and text["head_dim"] == _config(built("qwen3"))["head_dim"]
    assert "mrope_section" in text["rope_parameters"] and "mrope_interleaved" not in text["rope_parameters"]


def test_the_chat_template_is_qwen3s_with_qwen2_5_vl_image_markup(grafted):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(grafted(HOST).output_dir)
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                                       {"type": "text", "text": "hi"}]}],
                                         add_generation_prompt=True, enable_thinking=False)
    assert text == ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>\n"
                    "<|im_start|>assistant\n<think>\n\n</think>\n\n")


def _refused(tmp_path, template, donor, match, **kw):
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UserError, match=match):
        graft(template, donor, tmp_path / "out", proof=False, log=quiet, **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_pairs_host_donor_cannot_serve_are_refused(built, tmp_path):
    _refused(tmp_path, built("qwen3-vl"), built("qwen3-tied"),
             r"graft.host is 'donor', but a qwen3_vl template can only be grafted with host: template", host="donor")
    qwen2, sliding = tmp_path / "qwen2", tmp_path / "sliding"
    for d in (qwen2, sliding):
        shutil.copytree(built("qwen3"), d)
    cfg = _config(qwen2)
    (qwen2 / "config.json").write_text(json.dumps({**cfg, "model_type": "qwen2",
                                                   "architectures": ["Qwen2ForCausalLM"]}))
    _refused(tmp_path, built("qwen2.5-vl"), qwen2, r"donor: model_type 'qwen2'.*host: template", host="donor")
    (sliding / "config.json").write_text(json.dumps({**cfg, "use_sliding_window": True, "sliding_window": 64,
                                                     "max_window_layers": 1}))
    _refused(tmp_path, built("qwen2.5-vl"), sliding, r"sliding-window layers", host="donor")
