"""The shell's own decisions, without running swift: too many ranks for the GPUs stops a stage before launch,
and a refused dataset is reported on the user's own file and line."""
from __future__ import annotations

import pytest

from swiftplus.core import runs
from swiftplus.recipe.load import load_recipe
from swiftplus.rehearse import command, nodes
from swiftplus.rehearse import run as rehearse_run
from swiftplus.rehearse.rehearsal import Machine


@pytest.fixture
def rehearser(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def make(name: str, machine: Machine, environ: dict) -> rehearse_run.Rehearser:
        real = load_recipe(name)
        work = (tmp_path / "work").resolve()
        plan = command.rehearsal(real.recipe, real.data, machine, environ, work=work, fixtures_root=tmp_path / "fx")
        r = rehearse_run.Rehearser(real, name, plan, machine, 0, 1)
        r.loaded = nodes.shared_recipe(work, plan.data, 0)
        return r

    return make


def test_more_ranks_than_gpus_stop_the_stage_before_anything_launches(rehearser, monkeypatch):
    monkeypatch.setattr(rehearse_run, "run_stage", lambda *a, **k: pytest.fail("swift was launched"))
    r = rehearser("qwen3-8b-vl", Machine(gpus=1, cpus=16, hub_reachable=False), {})
    with pytest.raises(rehearse_run.UserError, match="NPROC_PER_NODE=8 but this node has 1 GPU"):
        r.train("stage1")


def test_a_refused_sample_is_reported_on_the_users_file_and_line(rehearser, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "custom_llava_train.json").write_text("[]")
    r = rehearser("qwen3-vl-2b-0.6b", Machine(gpus=0, cpus=2, hub_reachable=False), {})
    (sample,) = r.plan.samples
    record = runs.stage_dir(r.recipe, "stage1")
    runs.write_json_atomic(runs.lint_record(record), {"ok": False, "datasets": [{"lint": {"issues": [
        {"file": sample.dest, "line": 7, "kind": "missing_file", "message": "data/x.png does not exist",
         "severity": "error"},
        {"file": sample.dest, "line": 9, "kind": "relative_path", "message": "fine", "severity": "repaired"}]}}]})
    failed = r._data_refused("stage1")
    assert failed is not None
    text = r._local(failed.error)
    assert "data/custom_llava_train.json:7: missing_file: data/x.png does not exist" in text
    assert "fine" not in text and sample.dest not in text
    assert failed.fix.startswith("`swiftplus data lint data/custom_llava_train.json`")
