"""`make demo` end to end: graft, stage 1, stage 2, deploy, EvalScope, offline on the CPU, with the recipe's fixed
seeds. Each stage does its job: the graft keeps what the donor knew, stage 1 connects the pictures to the frozen
language model, stage 2 finishes it, and the answers come from the pixels; a second run reuses every stage."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from swiftplus.data.synthetic import COLOURS
from tests.helpers import REPO

CHANCE = 1 / len(COLOURS)


def make_demo(cwd: Path) -> subprocess.CompletedProcess:
    # PY=<this interpreter>: the Makefile then uses this environment as it is and installs nothing
    return subprocess.run(["make", "-s", "-f", str(REPO / "Makefile"), "demo", f"PY={sys.executable}"], cwd=cwd,
                          capture_output=True, text=True, timeout=1500)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("demo")
    first = make_demo(cwd)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    second = make_demo(cwd)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    return cwd, first, second


def _scores(cwd: Path) -> dict[tuple[str, str], float]:
    data = json.loads((cwd / "runs/tiny/eval/results.json").read_text())
    return {(r["source"], r["subset"]): r["score"] for r in data["rows"] if r["primary"]}


@pytest.mark.slow
def test_each_stage_does_its_job(demo_runs):
    cwd, first, _ = demo_runs
    scores = _scores(cwd)
    assert scores[("donor", "text")] >= 0.95, scores  # the donor knows the colours in words
    assert abs(scores[("graft", "text")] - scores[("donor", "text")]) <= 0.02, scores  # the graft keeps it
    assert abs(scores[("graft", "shapes")] - CHANCE) <= 0.15, scores  # but cannot see yet
    assert scores[("stage1", "shapes")] >= 0.80, scores  # the projector alone connects the pictures
    assert scores[("stage2", "shapes")] >= 0.95, scores
    assert scores[("stage2", "blank")] <= 0.35, scores  # a grey picture: no better than guessing
    assert ("graft-qwen2.5-vl", "text") in scores
    # graft.host: donor keeps Qwen3's decoder inside Qwen2.5-VL: nothing dropped, the donor's answers kept
    assert abs(scores[("graft-qwen2.5-vl-lossless", "text")] - scores[("donor", "text")]) <= 0.02, scores
    table = first.stdout[first.stdout.rindex("checkpoint  "):]
    assert all(name in table for name in ("donor", "graft-qwen2.5-vl", "stage1", "stage2", "text", "shapes", "blank"))


def _losses(path: Path) -> list[float]:
    return [row["loss"] for row in map(json.loads, path.read_text().splitlines()) if "loss" in row]


@pytest.mark.slow
def test_run_report_and_artifacts(demo_runs):
    cwd, _, _ = demo_runs
    root = cwd / "runs/tiny"
    report = (root / "report.md").read_text()
    assert "## Graft" in report and "## Training" in report and "## Evaluation" in report
    for stage in ("stage1", "stage2"):
        assert (root / stage / "loss.png").stat().st_size > 1000
        assert f"![{stage} loss]({stage}/loss.png)" in report
        assert json.loads((root / stage / "complete.json").read_text())["checkpoint"]
    stage1 = _losses(root / "stage1/output/logging.jsonl")
    assert stage1[-1] < stage1[0] / 2, stage1  # the curve visibly falls
    graft = json.loads((root / "graft/graft_report.json").read_text())
    assert graft["vision_reachability"]["ok"] is True and graft["text_equivalence"]["ok"] is True
    assert graft["dropped"] == [] and graft["fresh_init"]
    host = json.loads((root / "graft-qwen2.5-vl/graft_report.json").read_text())
    assert host["dropped"] and all("norm" in name for name in host["dropped"])
    # the cost of seed 000's dropped QK-norm, in the task's terms, beside the donor's score
    keeps = report[report.index("## What the graft keeps of the donor"):report.index("## Evaluation")]
    assert "| donor |" in keeps and "| graft |" in keeps
    assert "| graft-qwen2.5-vl | `fixture:qwen2.5-vl` | 6 tensors (QK-norm) |" in keeps
    assert "| graft-qwen2.5-vl-lossless | `fixture:qwen2.5-vl` | nothing | 0 |" in keeps
    lossless = json.loads((root / "graft-qwen2.5-vl-lossless/graft_report.json").read_text())
    assert lossless["dropped"] == [] and lossless["text_equivalence"]["ok"] is True
    assert (root / "eval/results.md").is_file()
    # held-out evaluation images never appear in training
    train_images = {img for line in (root / "task/train.jsonl").read_text().splitlines()
                    for img in json.loads(line)["images"]}
    eval_images = {json.loads(line)["image_1"] for line in (root / "task/eval/shapes_val.jsonl").read_text().splitlines()}
    assert train_images and eval_images and not train_images & eval_images


@pytest.mark.slow
def test_second_demo_reuses_everything(demo_runs):
    _, _, second = demo_runs
    out = second.stdout
    assert "graft" in out and "already complete" in out
    # graft, graft-qwen2.5-vl, graft-qwen2.5-vl-lossless, stage1, stage2
    assert out.count("is already complete") == 5
    assert "reusing results" in out
    assert "swift sft" not in out and "run sh:" not in out  # nothing was trained or served again
