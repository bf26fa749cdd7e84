"""Image tokens as the templates produce them: checked against qwen_vl_utils and transformers themselves."""
import random

import pytest

from swiftplus.core.errors import UserError
from swiftplus.data import DatasetSpec, TokenBudget, lint_dataset
from swiftplus.data import kinds as K
from swiftplus.data.budget import TEMPLATES, qwen_token_limits, smart_resize, smolvlm_tiles
from tests.data.test_lint_kinds import llava


def sizes(n, seed=0):
    rng = random.Random(seed)
    out = [(1, 1), (28, 28), (27, 29), (4000, 3000), (5000, 25)]
    while len(out) < n:
        h, w = rng.randint(1, 6000), rng.randint(1, 6000)
        if max(h, w) / min(h, w) <= 200:
            out.append((h, w))
    return out


@pytest.mark.parametrize("factor", [28, 32])
def test_smart_resize_is_qwen_vl_utils(factor):
    from qwen_vl_utils import vision_process

    for h, w in sizes(3000):
        for max_tokens in (16384, 1280, 100):
            lo, hi = 4 * factor ** 2, max_tokens * factor ** 2
            assert smart_resize(h, w, factor, lo, hi) == vision_process.smart_resize(h, w, factor, lo, hi)


def test_smolvlm_tiles_are_transformers():
    from transformers.models.smolvlm.image_processing_smolvlm import SmolVLMImageProcessor

    for edge, tile in ((2048, 512), (1536, 384)):
        proc = SmolVLMImageProcessor(size={"longest_edge": edge}, max_image_size={"longest_edge": tile})
        for h, w in sizes(2000, seed=1):
            _, rows, cols = proc.get_number_of_image_patches(h, w, {})
            assert smolvlm_tiles(w, h, edge, tile) == (rows, cols)


def test_qwen2_vl_tokens_follow_max_pixels_env():
    # ms-swift turns MAX_PIXELS into IMAGE_MAX_TOKEN_NUM = MAX_PIXELS // 28**2 for qwen_vl_utils
    budget = TokenBudget.from_env(4096, "qwen2_vl", {"MAX_PIXELS": str(280 * 280)})
    assert qwen_token_limits(28, budget) == (4 * 28 ** 2, 100 * 28 ** 2)
    assert budget.image_tokens(280, 280) == 100 + 2  # 10 x 10 merged patches + vision start/end
    assert budget.image_tokens(4000, 3000) <= 100 + 2
    unlimited = TokenBudget(4096, "qwen2_vl")
    assert unlimited.image_tokens(4000, 3000) > 10000


def test_image_token_limits_come_from_the_environment_given_not_the_process(monkeypatch):
    monkeypatch.delenv("IMAGE_MAX_TOKEN_NUM", raising=False)
    capped = TokenBudget.from_env(2048, "qwen2_vl", {"IMAGE_MAX_TOKEN_NUM": "1024", "MAX_PIXELS": str(10 ** 8)})
    assert qwen_token_limits(28, capped)[1] == 1024 * 28 ** 2  # the token cap wins over MAX_PIXELS, as in ms-swift
    assert capped.image_tokens(2000, 2000) <= 1024 + 2
    monkeypatch.setenv("IMAGE_MAX_TOKEN_NUM", "1024")
    assert TokenBudget.from_env(2048, "qwen2_vl", {}).image_tokens(2000, 2000) > 1024 + 2
    assert TokenBudget(4096, "qwen3_vl").image_tokens(320, 320) == 100 + 2  # patch 16 x merge 2


def test_smolvlm_tokens():
    budget = TokenBudget(4096, "smolvlm_qwen3")
    single = budget.image_tokens(300, 300)  # upscaled to 2048: 4 x 4 tiles of 64 tokens + the global image
    assert single > 17 * 64
    assert budget.image_tokens(2048, 400) < single


def test_over_budget_image_is_flagged_and_the_budget_passes_others(manifest, media):
    rows = [llava(("u", "<image>x"), ("a", "y"), images=["images/big.png"]),
            llava(("u", "<image>x"), ("a", "y"), images=["images/a.jpg"])]
    path, starts = manifest(rows)
    spec = DatasetSpec(str(path), data_root=str(media))
    report = lint_dataset([spec], budget=TokenBudget(1024, "qwen2_vl"))
    assert [(i.line, i.kind) for i in report.issues] == [(starts[0], K.OVER_TOKEN_BUDGET)]
    assert "estimated" in report.issues[0].message
    # with a pixel budget small enough the big image fits
    assert lint_dataset([spec], budget=TokenBudget(1024, "qwen2_vl", max_pixels=512 * 28 * 28)).ok


def test_tokenizer_counts_text_exactly(tmp_path, manifest, media):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "word": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    budget = TokenBudget(100, "qwen2_5_vl", tokenizer_dir=str(tmp_path / "tok"))
    assert budget.text_tokens(["word word <image> word", "word"]) == 7  # "<image>" is 3 pieces here
    rows = [llava(("u", "word " * 60), ("a", "word")), llava(("u", "word " * 90), ("a", "word"))]
    path, starts = manifest(rows)
    report = lint_dataset([DatasetSpec(str(path))], budget=budget)
    assert [(i.line, i.kind) for i in report.issues] == [(starts[1], K.OVER_TOKEN_BUDGET)]
    assert "counted" in report.issues[0].message and report.text_tokens == "tokenizer"


def test_unknown_template_is_a_user_error():
    with pytest.raises(UserError, match="no image-token rule for template 'llava1_5'"):
        TokenBudget(1024, "llava1_5")
    assert {"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "smolvlm_qwen3"} <= set(TEMPLATES)
