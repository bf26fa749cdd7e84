"""graft.host: donor at seed 000's real widths: Qwen2.5-VL-7B's vision tower and merger (1280 wide, 16 heads) and
Qwen3-8B's decoder (4096 wide, 32 heads x 128, 8 KV heads, 12288 MLP, 151936 tokens), 2 decoder layers and 4
vision blocks, random bf16 weights written in the hub layout (benchmarks/graft.py's pair; ~7 GB on disk, 13 GB
with both grafts). The comparison is exact: host: donor gives the donor's logits bit for bit, while seed 000's
host on the same pair does not (the weights' small scale keeps its drift small here, not zero)."""
import json
import shutil

import pytest

from benchmarks.graft import build_pair
from swiftplus.graft import graft

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(tmp_path):
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)  # ~10 GB: not left for pytest's kept temp directories


def test_real_width_pair_equals_the_donor_exactly(workdir):
    template, donor = build_pair(workdir, layers=2, vision_depth=4)
    res = graft(template, donor, workdir / "graft", host="donor", log=lambda _: None)
    rep = res.report
    te = rep["text_equivalence"]
    assert te["checked"] and te["full_depth"] and te["layers"] == 2 and te["max_abs_diff"] == 0.0
    assert rep["vision_reachability"]["ok"] and rep["vision_reachability"]["image_tokens"] > 0
    assert rep["load_check"]["ok"] and rep["dropped"] == [] and rep["zero_init"] == []
    assert {f"model.layers.{i}.self_attn.{n}_norm.weight" for i in (0, 1) for n in "qk"} <= set(rep["copied"])
    cfg = json.loads((res.output_dir / "config.json").read_text())
    assert (cfg["hidden_size"], cfg["head_dim"], cfg["num_attention_heads"]) == (4096, 128, 32)
    assert cfg["vision_config"]["hidden_size"] == 1280 and cfg["vision_config"]["out_hidden_size"] == 4096
    assert cfg["rope_scaling"]["mrope_section"] == [16, 24, 24]  # Qwen2.5-VL-7B's, already 128 / 2 wide

    seed000 = graft(template, donor, workdir / "seed000", allow_dropped=["*.q_norm.weight", "*.k_norm.weight"],
                    log=lambda _: None).report
    assert len(seed000["dropped"]) == 4 and seed000["text_equivalence"]["max_abs_diff"] > 0.0
