"""The shell's own decisions, without running swift: the doctor's preflight of the rehearsal recipe stops a stage
with too many ranks for the GPUs before launch, a CPU rehearsal's preflight asks for no GPU, and a refused
dataset is reported on the user's own file and line."""
from __future__ import annotations

import pytest

from swiftplus.core import runs
from swiftplus.core.gpus import Gpu, Gpus
from swiftplus.doctor import run as doctor_run
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
    one_gpu = Gpus((Gpu(0, "GPU-0", "NVIDIA H100 80GB HBM3", 81559),), "test")
    monkeypatch.setattr(doctor_run, "visible", lambda environ: one_gpu)
    r = rehearser("qwen3-8b-vl", Machine(gpus=1, cpus=16, hub_reachable=False), {"NPROC_PER_NODE": "8"})
    with pytest.raises(rehearse_run.StepFailed) as failed:
        r.train("stage1")
    assert "NPROC_PER_NODE: 8 (from env) starts 8 processes per node, but 1 GPU(s) are visible" in failed.value.error
    assert failed.value.fix.startswith("the real `swiftplus train qwen3-8b-vl --stage 1` runs the same checks")


def test_a_cpu_rehearsal_passes_the_preflight_the_real_recipe_fails(rehearser, monkeypatch):
    """DeepSpeed, flash-attn and vLLM need a GPU; their CPU equivalents do not, so the rehearsal's preflight
    lets its stages start where the real run's refuses them."""
    launched = []
    monkeypatch.setattr(rehearse_run, "run_stage", lambda *a, **k: launched.append(a[1]) or 0)
    r = rehearser("qwen3-8b-vl", Machine(gpus=0, cpus=2, hub_reachable=False), {"CUDA_VISIBLE_DEVICES": ""})
    assert doctor_run.assess(r.real, ["stage1"], {"CUDA_VISIBLE_DEVICES": ""}).problems  # the real recipe
    assert r.train("stage1") is None and launched == ["stage1"]


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
