"""Donor-derived config rewrite on the real hub configs (pure: no weights, no torch)."""
import pytest

from swiftplus.core.errors import UserError
from swiftplus.graft.config import donor_text_params, rescale_mrope_section, token_ids_everywhere
from swiftplus.graft.families import TokenPlan, family_for
from tests.graft.hub_configs import QWEN2_5_VL_7B, QWEN3_0_6B, QWEN3_8B, QWEN3_VL_2B

QWEN_IDS = {k: QWEN2_5_VL_7B[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                           "vision_end_token_id", "vision_token_id")}


def rewrite(template, donor):
    fam = family_for(template)
    fam.check_pair(template, donor)
    return fam.rewrite_config(template, donor, TokenPlan(QWEN_IDS), None)


def test_qwen2_5_vl_7b_plus_qwen3_8b_matches_seed_000_table():
    new = rewrite(QWEN2_5_VL_7B, QWEN3_8B)
    assert (new["hidden_size"], new["intermediate_size"], new["num_attention_heads"], new["num_key_value_heads"],
            new["num_hidden_layers"], new["vocab_size"], new["max_window_layers"],
            new["vision_config"]["out_hidden_size"], new["head_dim"]) == \
        (4096, 12288, 32, 8, 36, 151936, 36, 4096, 128)
    # hub schema kept: rope_theta + rope_scaling with the template's own spelling, sections still valid
    assert "rope_parameters" not in new
    assert new["rope_scaling"] == {"type": "mrope", "mrope_section": [16, 24, 24]}
    assert new["rope_theta"] == 1000000
    assert len(new["layer_types"]) == 36
    assert new["tie_word_embeddings"] is False
    assert QWEN2_5_VL_7B["hidden_size"] == 3584  # input untouched


def test_transformers5_schema_is_kept():
    t5 = {"model_type": "qwen2_5_vl", "image_token_id": 151655, "vision_config": {"out_hidden_size": 64},
          "text_config": {"hidden_size": 64, "num_attention_heads": 4, "image_token_id": 7,
                          "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]}}}
    new = rewrite(t5, QWEN3_8B)
    text = new["text_config"]
    assert text["rope_parameters"] == {"rope_theta": 1000000, "rope_type": "default", "mrope_section": [16, 24, 24]}
    assert "rope_theta" not in text and "rope_scaling" not in text
    assert text["hidden_size"] == 4096 and "hidden_size" not in new
    # a stale nested image id is rewritten too: the same id at every level
    assert token_ids_everywhere(new)["image_token_id"] == {151655}


def test_qwen3_vl_template_with_tied_small_donor():
    new = rewrite(QWEN3_VL_2B, QWEN3_0_6B)
    text = new["text_config"]
    assert (text["hidden_size"], text["num_hidden_layers"], text["head_dim"]) == (1024, 28, 128)
    assert text["rope_scaling"]["mrope_section"] == [24, 20, 20] and text["rope_scaling"]["mrope_interleaved"]
    assert text["rope_theta"] == 1000000  # the donor's theta, not the template's
    assert new["vision_config"]["out_hidden_size"] == 1024
    assert new["tie_word_embeddings"] is True and text["tie_word_embeddings"] is True


def test_mrope_sections_rescale_or_refuse():
    assert rescale_mrope_section([16, 24, 24], 64) == [8, 12, 12]
    with pytest.raises(UserError, match="cannot be split"):
        rescale_mrope_section([16, 24, 24], 72)  # 36 frequencies in 2:3:3 proportions are not whole
    with pytest.raises(UserError, match="rope sections"):
        rewrite(QWEN3_VL_2B, {**QWEN3_0_6B, "head_dim": 80})


def test_qwen2_5_vl_refuses_donor_whose_head_dim_is_not_hidden_over_heads():
    with pytest.raises(UserError, match="head_dim 128 x 16 heads != hidden_size 1024"):
        rewrite(QWEN2_5_VL_7B, QWEN3_0_6B)


def test_donor_params_normalised():
    p = donor_text_params({**QWEN3_8B, "head_dim": None})
    assert p["head_dim"] == 128 and p["rope"] == {"rope_type": "default", "rope_theta": 1000000}
    with pytest.raises(UserError, match="no `hidden_size`"):
        donor_text_params({k: v for k, v in QWEN3_8B.items() if k != "hidden_size"})


def test_unknown_template_family_is_refused():
    with pytest.raises(UserError, match="not a template family"):
        family_for({"model_type": "llava"})
