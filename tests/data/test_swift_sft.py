"""Done means trained on: a file converted from each seed format goes through `swift sft` for two steps on
the tiny Qwen2.5-VL fixture, images and all."""
import json
import os

import pytest

from swiftplus import fixtures
from swiftplus.core.process import run, swift_executable
from swiftplus.data import DatasetSpec, convert_dataset
from tests.data.test_formats import seed_rows


@pytest.mark.slow
def test_converted_files_train_in_swift_sft(tmp_path, media):
    from PIL import Image

    for name in ("a.jpg", "b.png", "c.webp"):  # images the tiny vision tower can take at a small pixel budget
        Image.effect_noise((56, 56), 40).convert("RGB").save(media / "images" / name)
    specs = []
    for fmt in ("llava", "swift", "vision-tag", "cauldron"):
        path = tmp_path / f"{fmt}.json"
        path.write_text(json.dumps(seed_rows(fmt), ensure_ascii=False, indent=2))
        specs.append(DatasetSpec(str(path), data_root=str(media)))
    data = tmp_path / "train.jsonl"
    result = convert_dataset(specs, str(data))
    assert result.written == 8 and result.dropped == 0

    model = fixtures.build("qwen2.5-vl", tmp_path / "model")
    out = tmp_path / "out"
    argv = [swift_executable(), "sft", "--model", str(model), "--model_type", "qwen2_5_vl", "--template", "qwen2_5_vl",
            "--check_model", "false", "--dataset", str(data), "--tuner_type", "full", "--torch_dtype", "float32",
            "--max_steps", "2", "--per_device_train_batch_size", "2", "--max_length", "1024",
            "--dataset_num_proc", "1", "--dataset_shuffle", "false", "--dataloader_num_workers", "0",
            "--save_strategy", "no",
            "--logging_steps", "1", "--report_to", "none", "--output_dir", str(out), "--add_version", "false"]
    env = {**os.environ, "MAX_PIXELS": str(56 * 56), "CUDA_VISIBLE_DEVICES": "", "MODELSCOPE_CACHE": str(tmp_path)}
    rc, tail = run(argv, env=env, log=tmp_path / "sft.log", echo=False)
    log = (tmp_path / "sft.log").read_text()
    assert rc == 0, "\n".join(tail)
    assert "'loss'" in log or '"loss"' in log, log[-3000:]
    assert "num_rows: 8" in log and "Dataset filtered" not in log  # ms-swift read and kept every row
    # the first row (seed 001's, unshuffled) is logged encoded: its image became 4 image tokens at MAX_PIXELS
    assert "151652, 151655, 151655, 151655, 151655, 151653" in log


@pytest.mark.slow
@pytest.mark.parametrize("fixture,template,factor", [("qwen2.5-vl", "qwen2_5_vl", 28), ("qwen3-vl", "qwen3_vl", 32)])
def test_budget_with_the_tokenizer_is_the_template_s_exact_length(fixture, template, factor, tmp_path, monkeypatch):
    """What lint predicts is what ms-swift's template encodes: the same token count, images included."""
    from PIL import Image

    from swiftplus.data import TokenBudget
    from swiftplus.data.formats import read_swift

    monkeypatch.setenv("MAX_PIXELS", str(factor * factor * 64))
    model = fixtures.build(fixture, tmp_path / "model")
    from swift import get_model_processor
    from swift.template import get_template

    _, processor = get_model_processor(str(model), model_type=template, load_model=False, check_model=False)
    swift_template = get_template(processor, template_type=template)
    swift_template.set_mode("train")
    image = tmp_path / "x.png"
    Image.new("RGB", (300, 200)).save(image)
    rows = [{"messages": [{"role": "user", "content": "<image>Describe this picture in detail please."},
                          {"role": "assistant", "content": "It is a black rectangle."}], "images": [str(image)]},
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"},
                          {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "<image><image>2?"},
                          {"role": "assistant", "content": "Yes two."}], "images": [str(image)] * 2}]
    budget = TokenBudget.from_env(100_000, template, tokenizer_dir=str(model))
    for row in rows:
        sample, _ = read_swift(row)
        text = budget.text_tokens([t[1].replace("<image>", "") for t in sample.turns])
        images = len(sample.images) * budget.image_tokens(300, 200)
        predicted = text + budget.overhead([t[0] for t in sample.turns]) + images
        assert predicted == len(swift_template.encode(dict(row))["input_ids"])
