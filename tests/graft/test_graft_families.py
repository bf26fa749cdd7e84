"""Each family grafted end to end on tiny real-architecture checkpoints: plan, proof, refusals, atomicity."""
import json
import os

import pytest

from swiftplus.errors import UserError
from swiftplus.graft import MARKER, REPORT, graft
from swiftplus.graft.safetensors_io import scan_checkpoint


def _names(d):
    return set(scan_checkpoint(d))


@pytest.mark.parametrize("family", ["qwen3_vl", "smolvlm"])
def test_exact_host_families_equal_the_donor(grafted, family):
    rep = grafted(family).report
    assert rep["text_equivalence"]["checked"] and rep["text_equivalence"]["full_depth"]
    assert rep["text_equivalence"]["max_abs_diff"] <= 1e-5
    assert rep["vision_reachability"]["ok"] and rep["vision_reachability"]["image_tokens"] > 0
    assert rep["vision_reachability"]["image_tokens"] == rep["vision_reachability"]["image_features"]
    assert rep["load_check"]["ok"]
    assert rep["dropped"] == [] and rep["zero_init"] == []


def test_qwen3_vl_reinitialises_every_merger_output_including_deepstack(grafted, tiny):
    res = grafted("qwen3_vl")
    fresh = res.report["fresh_init"]
    assert "model.visual.merger.linear_fc2.weight" in fresh
    assert {f for f in fresh if "deepstack_merger_list" in f} == {
        f"model.visual.deepstack_merger_list.{i}.linear_fc2.{p}" for i in (0, 1) for p in ("weight", "bias")}
    out = scan_checkpoint(res.output_dir)
    assert out["model.visual.merger.linear_fc2.weight"].shape == (64, 128)  # donor width 64, template 48
    # every donor tensor landed, under the template's text prefix
    donor = _names(tiny("qwen3"))
    assert {"model.language_model." + n[len("model."):] for n in donor if n.startswith("model.")} <= set(out)
    cfg = json.loads((res.output_dir / "config.json").read_text())
    assert cfg["vision_config"]["out_hidden_size"] == cfg["text_config"]["hidden_size"] == 64


def test_smolvlm_tokens_consistent_and_tied_donor(grafted):
    res = grafted("smolvlm")
    cfg = json.loads((res.output_dir / "config.json").read_text())
    assert cfg["image_token_id"] == 151655 and cfg["text_config"]["model_type"] == "qwen3"
    assert cfg["tie_word_embeddings"] is True and "lm_head.weight" not in _names(res.output_dir)
    assert cfg["pad_token_id"] == 151643
    tok_cfg = json.loads((res.output_dir / "tokenizer_config.json").read_text())
    assert tok_cfg["extra_special_tokens"]["image_token"] == "<|image_pad|>"
    from transformers import AutoProcessor
    proc = AutoProcessor.from_pretrained(res.output_dir)
    assert proc.image_token_id == cfg["image_token_id"]
    text = proc.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
                                    add_generation_prompt=True, enable_thinking=False)
    assert text == "<|im_start|>user\n<|image_pad|>hi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert res.swift["swift_model_type"] == "smolvlm_qwen3" and res.swift["swift_external_plugins"]
    marker = json.loads((res.output_dir / MARKER).read_text())
    assert marker["swift_template"] == "smolvlm_qwen3"


def test_qwen2_5_vl_qk_norm_drop_is_measured(grafted):
    rep = grafted("qwen2_5_vl").report
    assert len(rep["dropped"]) == 4 and all("norm" in d for d in rep["dropped"])
    assert "QK-norm" in next(iter(rep["dropped_reasons"].values()))
    assert {n.rsplit(".", 2)[-2] for n in rep["zero_init"]} == {"q_proj", "k_proj", "v_proj"}
    te = rep["text_equivalence"]
    assert te["checked"] and te["max_abs_diff"] > 1e-3 and not te["ok"]  # measured, and really different
    assert rep["vision_reachability"]["ok"] and rep["load_check"]["ok"]


def test_qwen2_5_vl_refuses_qk_norm_drop_and_writes_nothing(tiny, tmp_path):
    out = tmp_path / "g"
    with pytest.raises(UserError, match=r"would be dropped.*QK-norm.*allow_dropped"):
        graft(tiny("qwen2.5-vl"), tiny("qwen3"), out, proof=False, log=lambda s: None)
    assert list(tmp_path.iterdir()) == []


def test_refusals_say_why_and_write_nothing(tiny, tmp_path):
    import shutil
    donor = tmp_path / "donor"
    shutil.copytree(tiny("qwen3"), donor)
    (donor / "tokenizer.json").unlink()
    with pytest.raises(UserError, match="no tokenizer.json"):
        graft(tiny("qwen3-vl"), donor, tmp_path / "o1", proof=False, log=lambda s: None)
    with pytest.raises(UserError, match="does not exist"):
        graft(tmp_path / "nope", tiny("qwen3"), tmp_path / "o2", proof=False, log=lambda s: None)
    small = tmp_path / "small"
    shutil.copytree(tiny("qwen3"), small)
    cfg = json.loads((small / "config.json").read_text())
    (small / "config.json").write_text(json.dumps({**cfg, "vocab_size": 151000}))
    with pytest.raises(UserError, match="vocab_size 151000 has no room"):
        graft(tiny("qwen3-vl"), small, tmp_path / "o3", proof=False, log=lambda s: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["donor", "small"]


def test_idempotent_and_atomic(tiny, tmp_path, monkeypatch):
    out = tmp_path / "g"
    first = graft(tiny("qwen3-vl"), tiny("qwen3"), out, proof=False, log=lambda s: None)
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = graft(tiny("qwen3-vl"), tiny("qwen3"), out, proof=False, log=lambda s: None)
    assert again.skipped and not first.skipped
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    with pytest.raises(UserError, match="already exists and was not produced"):
        graft(tiny("qwen3-vl"), tiny("qwen3"), out, seed=1, proof=False, log=lambda s: None)

    import swiftplus.graft.safetensors_io as sio

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(sio, "write_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        graft(tiny("qwen3-vl"), tiny("qwen3"), tmp_path / "h", proof=False, log=lambda s: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]  # no output, no temp left behind


def test_report_lists_every_tensor(grafted):
    res = grafted("qwen2_5_vl")
    rep = json.loads((res.output_dir / REPORT).read_text())
    written = _names(res.output_dir)
    assert set(rep["copied"]) | set(rep["zero_init"]) | set(rep["fresh_init"]) == written
    assert (res.output_dir / "weight_plan.txt").read_text().count("\n") >= len(written)
    assert os.path.getsize(res.output_dir / "graft_summary.txt") > 0
