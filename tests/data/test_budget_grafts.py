"""The token budget of the graft families' own templates equals what ms-swift encodes in training.

ms-swift's Qwen3 hybrid templates write a non-thinking prefix before every trained assistant turn, and the llava
templates spend the tower's fixed patch count per image: both only show when the prediction is held against
ms-swift's own encoding of the graft the family writes."""
import pytest

from swiftplus.core.errors import UserError
from swiftplus.data import TokenBudget
from swiftplus.data.formats import read_swift
from swiftplus.graft import graft
from swiftplus.graft.families import family_by_name

# template -> (vision source fixture, donor fixture, graft family)
GRAFTS = {
    "llava_qwen3": ("siglip", "qwen3", "llava"),
    "llava_llama3": ("clip", "llama3", "llava"),
    "qwen2_5_vl_qwen3": ("qwen2.5-vl", "qwen3", "qwen2_5_vl_qwen3"),
}


def _rows(image: str) -> list[dict]:
    return [{"messages": [{"role": "user", "content": "<image>Describe this picture in detail please."},
                          {"role": "assistant", "content": "It is a black rectangle."}], "images": [image]},
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"},
                          {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "<image><image>2?"},
                          {"role": "assistant", "content": "Yes two."}], "images": [image] * 2}]


@pytest.mark.slow
@pytest.mark.parametrize("template", GRAFTS)
def test_budget_is_the_graft_templates_exact_length(template, built, tmp_path, monkeypatch):
    from PIL import Image
    from swift import get_model_processor
    from swift.template import get_template
    from swift.utils import import_external_file

    monkeypatch.setenv("MAX_PIXELS", str(28 * 28 * 64))
    source, donor, family = GRAFTS[template]
    res = graft(built(source), built(donor), tmp_path / "graft", family=family, host=family_by_name(family).host,
                log=lambda _: None)
    assert res.swift["swift_template"] == template
    import_external_file(res.swift["swift_external_plugins"][0])
    _, processor = get_model_processor(str(res.output_dir), model_type=res.swift["swift_model_type"],
                                       load_model=False, check_model=False, download_model=False)
    swift_template = get_template(processor, template_type=template)
    swift_template.set_mode("train")
    image = tmp_path / "x.png"
    Image.new("RGB", (300, 200)).save(image)
    budget = TokenBudget.from_env(100_000, template, tokenizer_dir=str(res.output_dir))
    for row in _rows(str(image)):
        sample, _ = read_swift(row)
        text = budget.text_tokens([t[1].replace("<image>", "") for t in sample.turns])
        images = len(sample.images) * budget.image_tokens(300, 200)
        predicted = text + budget.overhead([t[0] for t in sample.turns]) + images
        assert predicted == len(swift_template.encode(dict(row))["input_ids"])


def test_llava_budget_needs_the_model_directory():
    with pytest.raises(UserError, match="llava_qwen3.*fixed number of tokens per image.*--tokenizer"):
        TokenBudget(4096, "llava_qwen3")
