"""What `plan` prints is exactly what runs: for every shipped recipe, the argv and environment of each
train, export and deploy step in the plan equal what the runner hands to the process launcher
(subprocess.Popen inside core/process.py, the one place that starts processes)."""
from __future__ import annotations

import json
import subprocess
import types

import pytest

from swiftplus.core import gpus, ports, process, runs, stages
from swiftplus.export.run import run_export
from swiftplus.pipeline.plan import plan
from swiftplus.recipe.load import load_recipe, shipped_recipes
from swiftplus.serve import run as serve_run
from swiftplus.serve import server
from swiftplus.train import run as train_run
from tests.helpers import link_last, make_checkpoint

RECIPES = sorted(shipped_recipes())


class Launched(Exception):
    def __init__(self, argv, env):
        super().__init__(argv)
        self.argv, self.env = list(argv), dict(env or {})


@pytest.fixture
def launcher(monkeypatch, tmp_path):
    """Every process start raises Launched(argv, env) instead of starting anything."""
    def popen(argv, *args, env=None, **kwargs):
        raise Launched(argv, env)

    monkeypatch.setattr(process, "subprocess", types.SimpleNamespace(**{**vars(subprocess), "Popen": popen}))
    # the checks around a launch are tested elsewhere; here only what is launched matters
    monkeypatch.setattr(train_run, "prepare_datasets", lambda *a, **k: [])
    monkeypatch.setattr(train_run.synthetic, "ensure", lambda recipe: None)
    monkeypatch.setattr(server, "BACKEND_PACKAGES", {})
    monkeypatch.setattr(ports, "port_problem", lambda host, port: None)
    monkeypatch.chdir(tmp_path)  # the shipped recipes' run directories are relative
    monkeypatch.delenv("SWIFTPLUS_API_KEY", raising=False)
    for key in ("NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)


def complete(recipe, stage: str) -> None:
    """Leave `stage` finished on disk as its runner would."""
    root = runs.stage_dir(recipe, stage)
    if stage == stages.GRAFT:
        root.mkdir(parents=True, exist_ok=True)
        (root / "config.json").write_text("{}")
        (root / "swiftplus_graft.json").write_text(json.dumps({"complete": True}))
        return
    if stage == stages.EXPORT:
        out = runs.output_dir(recipe, stage)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text("{}")
        runs.mark_complete(root, {"stage": stage, "checkpoint": str(out.resolve())})
        return
    ckpt = make_checkpoint(runs.output_dir(recipe, stage), 10, adapter=stage == stages.LORA)
    link_last(runs.output_dir(recipe, stage), 10)
    runs.mark_complete(root, {"stage": stage, "checkpoint": str(ckpt.resolve()), "step": 10})


def planned(loaded, stage: str):
    (step,) = [s for s in plan(loaded, [stage], environ={}) if s.node_rank in (None, 0)]
    return step


def launched(call) -> Launched:
    with pytest.raises(Launched) as e:
        call()
    return e.value


def assert_same(step, launch: Launched) -> None:
    assert step.argv and launch.argv == step.argv
    assert {k: launch.env.get(k) for k in step.env} == step.env


@pytest.mark.parametrize("name", RECIPES)
def test_train_steps_plan_what_runs(name, launcher):
    loaded = load_recipe(name)
    trained = stages.present(loaded.recipe, stages.TRAIN)
    if not trained:
        pytest.skip(f"{name} trains nothing")
    for stage in trained:
        for earlier in stages.present(loaded.recipe, stages.earlier(stage)):
            complete(loaded.recipe, earlier)
        step = planned(loaded, stage)
        assert_same(step, launched(lambda: train_run.run_stage(loaded, stage, environ={}, ref=name)))


@pytest.mark.parametrize("name", RECIPES)
def test_export_step_plans_what_runs(name, launcher):
    loaded = load_recipe(name)
    if loaded.recipe.export is None:
        pytest.skip(f"{name} exports nothing")
    complete(loaded.recipe, stages.LORA)
    step = planned(loaded, stages.EXPORT)
    assert step.argv[step.argv.index("--output_dir") + 1].endswith("output.partial")
    assert_same(step, launched(lambda: run_export(loaded, ref=name)))


@pytest.mark.parametrize("name", RECIPES)
def test_deploy_step_plans_what_runs(name, launcher):
    loaded = load_recipe(name)
    if loaded.recipe.deploy is None:
        pytest.skip(f"{name} deploys nothing")
    for stage in stages.present(loaded.recipe, stages.BUILD):
        complete(loaded.recipe, stage)
    step = planned(loaded, stages.DEPLOY)
    assert_same(step, launched(lambda: serve_run.deploy(loaded.recipe)))


def test_a_defaulted_nproc_plans_what_runs(launcher, monkeypatch):
    """A DeepSpeed stage without NPROC_PER_NODE gets one process per visible GPU, in the plan as in the run."""
    fake = [gpus.Gpu(i, f"GPU-{i}", "NVIDIA H100 80GB HBM3", 81559) for i in range(4)]
    monkeypatch.setattr(gpus, "_smi", lambda: (fake, "nvidia-smi"))
    loaded = load_recipe("qwen3-vl-2b-0.6b")
    complete(loaded.recipe, stages.GRAFT)
    step = planned(loaded, stages.STAGE1)
    assert step.env["NPROC_PER_NODE"] == "4"
    assert_same(step, launched(lambda: train_run.run_stage(loaded, stages.STAGE1, environ={}, ref="x")))


def test_the_launcher_is_really_intercepted(launcher):
    with pytest.raises(Launched):
        process.run(["true"])
