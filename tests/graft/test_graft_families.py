"""Each family grafted end to end on the hub-layout fixtures: plan, proof, refusals, atomicity."""
import json
import os
import shutil

import pytest

from swiftplus.core.errors import UserError
from swiftplus.graft import MARKER, REPORT, graft
from swiftplus.graft.safetensors_io import scan_checkpoint
from tests.graft.conftest import PAIRS, QK_NORM, quiet


def _names(d):
    return set(scan_checkpoint(d))


def _config(d):
    return json.loads((d / "config.json").read_text())


@pytest.mark.parametrize("family", ["qwen3_vl", "smolvlm", "qwen2_5_vl_qwen3"])
def test_exact_host_families_equal_the_donor(grafted, family):
    rep = grafted(family).report
    assert rep["text_equivalence"]["checked"] and rep["text_equivalence"]["full_depth"]
    assert rep["text_equivalence"]["max_abs_diff"] <= 1e-5
    assert rep["vision_reachability"]["ok"] and rep["vision_reachability"]["image_tokens"] > 0
    assert rep["vision_reachability"]["image_tokens"] == rep["vision_reachability"]["image_features"]
    assert rep["load_check"]["ok"]
    assert rep["dropped"] == [] and rep["zero_init"] == []


def test_qwen3_vl_deepstack_taps_follow_the_donor_depth(grafted, built):
    """The template taps 3 vision blocks for deepstack; the 2-layer donor can take 2 injections."""
    res = grafted("qwen3_vl")
    template, donor = built(PAIRS["qwen3_vl"][0]), built(PAIRS["qwen3_vl"][1])
    assert _config(template)["vision_config"]["deepstack_visual_indexes"] == [0, 1, 2]
    layers = _config(donor)["num_hidden_layers"]
    assert layers == 2
    cfg = _config(res.output_dir)
    assert cfg["vision_config"]["deepstack_visual_indexes"] == [0, 1]
    assert cfg["vision_config"]["out_hidden_size"] == cfg["text_config"]["hidden_size"] == 96
    rep = res.report
    assert set(rep["fresh_init"]) == {"model.visual.merger.linear_fc2.weight", "model.visual.merger.linear_fc2.bias"} | {
        f"model.visual.deepstack_merger_list.{i}.linear_fc2.{p}" for i in (0, 1) for p in ("weight", "bias")}
    left_out = {n for n in _names(template) if n.startswith("model.visual.deepstack_merger_list.2.")}
    assert left_out and set(rep["unused_template"]) == left_out
    out = scan_checkpoint(res.output_dir)
    assert not left_out & set(out)
    assert rep["vision_reachability"]["deepstack"] == {"features": 2, "injected": 2, "decoder_layers": 2, "ok": True}
    assert rep["config_changes"]["vision_config.deepstack_visual_indexes"] == [[0, 1, 2], [0, 1]]
    assert "template tensors left out" in (res.output_dir / "graft_summary.txt").read_text()
    # every donor tensor landed under the template's text prefix; the tied donor has no lm_head
    assert {"model.language_model." + n[len("model."):] for n in _names(donor)} <= set(out)
    assert "lm_head.weight" not in out and cfg["tie_word_embeddings"] is True
    assert out["model.visual.merger.linear_fc2.weight"].shape[0] == 96


def test_vision_check_catches_deepstack_features_that_never_reach_the_decoder(built):
    """A Qwen3-VL whose decoder is shallower than its deepstack taps: the third feature is computed and lost."""
    import transformers

    from swiftplus.graft.families import family_by_name
    from swiftplus.graft.proof import vision_reachability
    model = built("qwen3-vl", num_hidden_layers=2)
    vr = vision_reachability(model, family_by_name("qwen3_vl"), transformers.AutoConfig.from_pretrained(model), None)
    assert vr["deepstack"] == {"features": 3, "injected": 2, "decoder_layers": 2, "ok": False}
    assert not vr["ok"] and vr["image_tokens"] == vr["image_features"] > 0


def test_smolvlm_tokens_consistent_and_tied_donor(grafted):
    res = grafted("smolvlm")
    cfg = _config(res.output_dir)
    assert cfg["image_token_id"] == 151655 and cfg["text_config"]["model_type"] == "qwen3"
    assert cfg["tie_word_embeddings"] is True and "lm_head.weight" not in _names(res.output_dir)
    assert cfg["pad_token_id"] == 151643 and cfg["vocab_size"] == cfg["text_config"]["vocab_size"] == 151936
    tok_cfg = json.loads((res.output_dir / "tokenizer_config.json").read_text())
    assert tok_cfg["extra_special_tokens"]["image_token"] == "<|image_pad|>"
    from transformers import AutoProcessor
    proc = AutoProcessor.from_pretrained(res.output_dir)
    assert proc.image_token_id == cfg["image_token_id"]
    text = proc.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
                                    add_generation_prompt=True, enable_thinking=False)
    assert text == "<|im_start|>user\n<|image_pad|>hi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert res.swift["swift_model_type"] == "smolvlm_qwen3" and res.swift["swift_external_plugins"]
    assert json.loads((res.output_dir / MARKER).read_text())["swift_template"] == "smolvlm_qwen3"


def test_qwen2_5_vl_qk_norm_drop_is_measured(grafted, built):
    rep = grafted("qwen2_5_vl").report
    layers = _config(built("qwen3"))["num_hidden_layers"]
    assert len(rep["dropped"]) == 2 * layers and all(d.endswith(("q_norm.weight", "k_norm.weight")) for d in rep["dropped"])
    assert "QK-norm" in next(iter(rep["dropped_reasons"].values()))
    assert {n.rsplit(".", 2)[-2] for n in rep["zero_init"]} == {"q_proj", "k_proj", "v_proj"}
    te = rep["text_equivalence"]
    assert te["checked"] and te["full_depth"] and te["max_abs_diff"] > 1e-3 and not te["ok"]  # measured, and real
    assert rep["vision_reachability"]["ok"] and rep["load_check"]["ok"]
    assert "DIFFERENT from the donor (expected: see dropped)" in (grafted("qwen2_5_vl").output_dir /
                                                                 "graft_summary.txt").read_text()


def _refused(tmp_path, template, donor, match, **kw):
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UserError, match=match):
        graft(template, donor, tmp_path / "out", proof=False, log=quiet, **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no temp left


def test_incompatible_pairs_are_refused_with_the_reason(built, tmp_path):
    _refused(tmp_path, built("qwen2.5-vl"), built("qwen3"), r"would be dropped.*QK-norm.*allow_dropped")
    # the real Qwen3-0.6B shape: 4 heads x head_dim 32 = 128 != hidden 96; Qwen2.5-VL attention cannot host it
    _refused(tmp_path, built("qwen2.5-vl"), built("qwen3-tied"), r"head_dim 32 x 4 heads != hidden_size 96",
             allow_dropped=QK_NORM)
    # Qwen3-VL's rope sections [6, 5, 5] split 16 frequencies; a head_dim-24 donor has 12
    _refused(tmp_path, built("qwen3-vl"), built("qwen3", head_dim=24), r"sections \[6, 5, 5\].*head_dim 24 cannot")
    _refused(tmp_path, built("qwen3-vl"), built("qwen3", vocab_size=151000),
             r"vocab_size 151000 has no room for the template's image_token_id 151655")
    _refused(tmp_path, built("smolvlm2"), built("qwen2.5-vl"), r"model_type 'qwen2_5_vl'")


def test_missing_files_are_refused_with_the_reason(built, tmp_path):
    _refused(tmp_path, tmp_path / "nope", built("qwen3"), "template model directory .*nope does not exist")
    donor = tmp_path / "donor"
    shutil.copytree(built("qwen3"), donor)
    (donor / "tokenizer.json").unlink()
    _refused(tmp_path, built("qwen3-vl"), donor, "no tokenizer.json")
    shutil.rmtree(donor)
    shutil.copytree(built("qwen3"), donor)
    (donor / "model-00002-of-00002.safetensors").unlink()
    _refused(tmp_path, built("qwen3-vl"), donor, "names shard.*missing: model-00002-of-00002.safetensors")
    (donor / "config.json").unlink()
    _refused(tmp_path, built("qwen3-vl"), donor, "donor has no config.json")


def test_idempotent_and_atomic(built, tmp_path, monkeypatch):
    template, donor = built("qwen3-vl"), built("qwen3-tied")
    out = tmp_path / "g"
    first = graft(template, donor, out, proof=False, log=quiet)
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = graft(template, donor, out, proof=False, log=quiet)
    assert again.skipped and not first.skipped
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    with pytest.raises(UserError, match="already exists and was not produced"):
        graft(template, donor, out, seed=1, proof=False, log=quiet)

    import swiftplus.graft.run as graft_run

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(graft_run, "write_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        graft(template, donor, tmp_path / "h", proof=False, log=quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]  # no output, no temp left behind


@pytest.mark.parametrize("family", list(PAIRS))
def test_report_lists_every_tensor(grafted, family):
    res = grafted(family)
    rep = json.loads((res.output_dir / REPORT).read_text())
    written = _names(res.output_dir)
    assert set(rep["copied"]) | set(rep["zero_init"]) | set(rep["fresh_init"]) == written
    assert not set(rep["unused_template"]) & written
    assert (res.output_dir / "weight_plan.txt").read_text().count("\n") >= len(written)
    assert os.path.getsize(res.output_dir / "graft_summary.txt") > 0


def test_donor_tokenizer_saved_by_transformers_5_keeps_its_special_tokens(built, tmp_path):
    """transformers 5 saves additional special tokens as a list under extra_special_tokens (e.g. a donor that came
    out of swift sft); the graft adds the vision tokens without losing them."""
    import shutil

    from transformers import AutoTokenizer

    from swiftplus.graft.tokenizer import write_tokenizer_files

    donor = tmp_path / "donor"
    AutoTokenizer.from_pretrained(built("qwen3-tied")).save_pretrained(donor)
    saved = json.loads((donor / "tokenizer_config.json").read_text()).get("extra_special_tokens")
    if not isinstance(saved, list):
        pytest.skip("this transformers does not save extra_special_tokens as a list")
    out = tmp_path / "out"
    out.mkdir()
    write_tokenizer_files(built("smolvlm2"), donor, out, extra_special_tokens={"image_token": "<|image_pad|>"},
                          chat_template=None)
    tok_cfg = json.loads((out / "tokenizer_config.json").read_text())
    assert tok_cfg["extra_special_tokens"] == {"image_token": "<|image_pad|>"}
    assert tok_cfg["additional_special_tokens"] == saved
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.convert_tokens_to_ids("<|image_pad|>") == 151655
    assert set(saved) <= set(tok.all_special_tokens)
    shutil.rmtree(out)


def test_fingerprint_sees_new_weights_of_the_same_shapes(tmp_path):
    import os

    from swiftplus.graft.command import fingerprint

    template, donor = tmp_path / "t", tmp_path / "d"
    for d in (template, donor):
        d.mkdir()
        (d / "config.json").write_text("{}")
        (d / "model.safetensors").write_bytes(b"\0" * 64)
    before = fingerprint(template, donor, {}, {})
    (donor / "model.safetensors").write_bytes(b"\1" * 64)  # same size, same header: only the bytes differ
    os.utime(donor / "model.safetensors", ns=(1, 1))
    assert fingerprint(template, donor, {}, {}) != before
