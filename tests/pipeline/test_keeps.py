"""The run report's comparison of the donor with its grafts: the same text questions, side by side."""
import json

from swiftplus.evaluate.results import ScoreRow
from swiftplus.pipeline.keeps import Graft, drops, grafts, keeps_lines, keeps_section
from swiftplus.recipe.load import load_recipe

QK = "QK-norm: Qwen2.5-VL's decoder has no per-head RMSNorm"
NORMS = ["model.layers.0.self_attn.q_norm.weight", "model.layers.0.self_attn.k_norm.weight"]
LOSSY = {"dropped": NORMS, "dropped_reasons": dict.fromkeys(NORMS, QK), "text_equivalence": {"max_abs_diff": 0.8781}}
LOSSLESS = {"dropped": [], "dropped_reasons": {}, "text_equivalence": {"max_abs_diff": 0.0}}


def row(source, benchmark, score, subset=None):
    return ScoreRow(f"tiny ({source})", benchmark, subset or benchmark, "Accuracy", score, 100, source=source)


ROWS = [row("donor", "text", 1.0), row("graft", "text", 0.99), row("graft", "shapes", 0.25),
        row("graft-h", "text", 0.61), row("stage2", "shapes", 0.98)]
GRAFTS = [Graft("graft", "fixture:qwen3-vl", LOSSLESS), Graft("graft-h", "fixture:qwen2.5-vl", LOSSY)]


def test_each_graft_beside_the_donor_on_the_donor_s_questions():
    lines = keeps_lines(ROWS, GRAFTS, "fixture:qwen3-colours")
    assert lines[0].split(" | ")[-1] == "text |"  # only what the donor was asked: not shapes
    body = {line.split(" | ")[0].strip("| "): line for line in lines[2:]}
    assert list(body) == ["donor", "graft", "graft-h"]
    assert body["donor"].endswith("| 1.000 |") and "`fixture:qwen3-colours` alone" in body["donor"]
    assert "| nothing | 0 | 0.990 (-0.010) |" in body["graft"]
    assert "| 2 tensors (QK-norm) | 0.878 | 0.610 (-0.390) |" in body["graft-h"]


def test_no_comparison_without_the_donor_s_scores():
    assert keeps_lines([r for r in ROWS if r.source != "donor"], GRAFTS, "d") == []
    assert len(keeps_lines(ROWS[:1], GRAFTS, "d")) == 3  # the donor alone: no graft was asked its questions


def test_what_a_graft_dropped():
    assert drops(LOSSLESS) == "nothing" and drops({}) == "nothing"
    assert drops({"dropped": ["a", "b"], "dropped_reasons": {"a": "QK-norm: x", "b": "bias: y"}}) == \
        "2 tensors (QK-norm, bias)"


def test_the_recipe_s_grafts_are_read_from_their_directories(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe("tiny").recipe
    (tmp_path / "runs/tiny/graft-qwen2.5-vl").mkdir(parents=True)
    (tmp_path / "runs/tiny/graft-qwen2.5-vl/graft_report.json").write_text(json.dumps(LOSSY))
    found = grafts(recipe)
    assert [(g.source, g.template) for g in found] == [("graft", "fixture:qwen3-vl"),
                                                       ("graft-qwen2.5-vl", "fixture:qwen2.5-vl"),
                                                       ("graft-qwen2.5-vl-lossless", "fixture:qwen2.5-vl")]
    assert found[0].report == {} and found[1].report == LOSSY and found[2].report == {}
    rows = [row("donor", "text", 1.0), row("graft-qwen2.5-vl", "text", 0.0)]
    section = "\n".join(keeps_section(recipe, rows))
    assert section.startswith("## What the graft keeps of the donor")
    assert "| graft-qwen2.5-vl | `fixture:qwen2.5-vl` | 2 tensors (QK-norm) | 0.878 | 0.000 (-1.000) |" in section
