"""`make demo` end to end: graft, stage 1, stage 2, deploy, EvalScope, offline on the CPU; the model's
answers come from the pixels, and a second run reuses every finished stage."""
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
def test_stage2_reads_the_images(demo_runs):
    cwd, first, _ = demo_runs
    scores = _scores(cwd)
    assert CHANCE <= 0.25
    assert scores[("stage2", "shapes")] >= 0.90, scores
    # the same questions over a blank image: no better than guessing
    assert abs(scores[("stage2", "blank")] - CHANCE) <= 0.15, scores
    for source in ("graft", "stage1"):
        assert (source, "shapes") in scores and (source, "blank") in scores
    table = first.stdout[first.stdout.rindex("checkpoint  "):]
    assert all(name in table for name in ("graft", "stage1", "stage2", "shapes:blank"))


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
    graft = json.loads((root / "graft/graft_report.json").read_text())
    assert graft["vision_reachability"]["ok"] is True
    assert graft["dropped"] and graft["fresh_init"]
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
    assert out.count("is already complete") == 3  # graft, stage1, stage2
    assert "reusing results" in out
    assert "swift sft" not in out and "run sh:" not in out  # nothing was trained or served again
