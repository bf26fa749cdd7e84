"""A run directory is relocatable: a copy (or a moved run) hands on, plans and serves its own checkpoints, and a
record that points outside the run directory in use is said, naming both paths."""
import json
import os
import shutil

import pytest

from swiftplus.core import errors, runs
from swiftplus.pipeline.plan import plan
from swiftplus.recipe.load import load_recipe
from swiftplus.serve import endpoint
from swiftplus.serve.command import served_model
from swiftplus.train.state import completion, init_model
from tests.helpers import RunAt, link_last, make_checkpoint, run_cli


def model_arg(argv: list[str]) -> str:
    return argv[argv.index("--model") + 1]


@pytest.fixture
def finished_run(tmp_path):
    """A recipe whose stage 1 and stage 2 completed in runs/orig (fake checkpoints, records as training writes
    them), and that run copied to runs/copy."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: r
run_dir: {tmp_path}/runs/orig
swift: {{model_type: qwen2_5_vl, template: qwen2_5_vl}}
stage1: {{init: Qwen/Qwen2.5-VL-7B-Instruct, dataset: [AI-ModelScope/LLaVA-Instruct-150K]}}
stage2: {{dataset: [AI-ModelScope/LLaVA-Instruct-150K]}}
deploy: {{infer_backend: transformers}}
""")
    orig = tmp_path / "runs/orig"
    for stage, step in (("stage1", 4), ("stage2", 6)):
        out = orig / stage / "output"
        make_checkpoint(out, step)
        link_last(out, step)
        runs.mark_complete(orig / stage, completion(out, stage, RunAt(orig)))
    copy = tmp_path / "runs/copy"
    shutil.copytree(orig, copy, symlinks=True)
    return recipe, orig, copy


def test_a_copied_run_plans_trains_and_serves_its_own_checkpoints(finished_run, capsys):
    recipe, orig, copy = finished_run
    assert json.loads((copy / "stage2" / runs.COMPLETE).read_text())["checkpoint"] == "stage2/output/checkpoint-6"
    shutil.rmtree(orig)  # the original moved away or deleted: the copy needs nothing of it
    loaded = load_recipe(str(recipe), [f"run_dir={copy}"])
    assert served_model(loaded.recipe, "stage2").model == str(copy / "stage2/output/checkpoint-6")
    assert init_model(loaded.recipe, "stage2", "r") == str(copy / "stage1/output/checkpoint-4")
    steps = {s.stage: s for s in plan(loaded, ["stage2", "deploy"], environ={})}
    assert model_arg(steps["stage2"].argv) == str(copy / "stage1/output/checkpoint-4")
    assert model_arg(steps["deploy"].argv) == str(copy / "stage2/output/checkpoint-6")
    assert "warning" not in capsys.readouterr().err


def test_an_old_absolute_record_in_a_copy_reads_as_the_copys_own_and_says_so(finished_run, capsys):
    """Records written before paths were relative name the original's checkpoint: serving or training from the
    copy would use the original (or fail once it is gone) without a word."""
    recipe, orig, copy = finished_run
    for stage, step in (("stage1", 4), ("stage2", 6)):
        record = copy / stage / runs.COMPLETE
        old = json.loads(record.read_text())
        old["checkpoint"] = str(orig / stage / "output" / f"checkpoint-{step}")
        record.write_text(json.dumps(old))
    loaded = load_recipe(str(recipe), [f"run_dir={copy}"])
    assert served_model(loaded.recipe, "stage2").model == str(copy / "stage2/output/checkpoint-6")
    assert init_model(loaded.recipe, "stage2", "r") == str(copy / "stage1/output/checkpoint-4")
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if str(copy / "stage2" / runs.COMPLETE) in line]
    assert len(said) == 1, err  # once, however many times it is read
    assert str(orig / "stage2/output/checkpoint-6") in said[0] and str(copy / "stage2/output/checkpoint-6") in said[0]
    assert "outside its run directory" in said[0]


def test_a_record_outside_the_run_without_a_copy_is_used_as_recorded_and_said(finished_run, capsys):
    recipe, orig, copy = finished_run
    record = copy / "stage2" / runs.COMPLETE
    record.write_text(json.dumps({"checkpoint": str(orig / "stage2/output/checkpoint-6")}))
    shutil.rmtree(copy / "stage2/output")
    loaded = load_recipe(str(recipe), [f"run_dir={copy}"])
    assert served_model(loaded.recipe, "stage2").model == str(orig / "stage2/output/checkpoint-6")
    err = capsys.readouterr().err
    assert f"{record} names {orig / 'stage2/output/checkpoint-6'}, outside its run directory" in err
    assert "holds no copy of it" in err


def test_an_output_directory_linked_to_other_storage_is_still_the_runs(finished_run, tmp_path, capsys):
    """Clusters put checkpoints on scratch storage behind a link; that is no record pointing outside."""
    recipe, orig, copy = finished_run
    scratch = tmp_path / "scratch/stage2-output"
    scratch.parent.mkdir()
    shutil.move(orig / "stage2/output", scratch)
    (orig / "stage2/output").symlink_to(scratch)
    out = orig / "stage2/output"
    runs.mark_complete(orig / "stage2", completion(out, "stage2", RunAt(orig)))
    assert json.loads((orig / "stage2" / runs.COMPLETE).read_text())["checkpoint"] == "stage2/output/checkpoint-6"
    loaded = load_recipe(str(recipe))
    assert served_model(loaded.recipe, "stage2").model == str(orig / "stage2/output/checkpoint-6")
    assert "warning" not in capsys.readouterr().err


def test_a_copied_endpoint_record_is_not_taken_for_the_copys_own(finished_run, monkeypatch):
    recipe, orig, copy = finished_run
    original = load_recipe(str(recipe)).recipe
    path = runs.server_record(original)
    path.parent.mkdir(parents=True)
    # this very process stands in for the original run's live endpoint
    path.write_text(json.dumps({"pid": os.getpid(), "pgid": os.getpgid(os.getpid()), "run_dir": str(orig.resolve()),
                                "base_url": "http://127.0.0.1:1/v1", "model": "m"}))
    assert endpoint.read_record(original)["alive"]
    shutil.copytree(orig / "deploy", copy / "deploy")
    copied = load_recipe(str(recipe), [f"run_dir={copy}"]).recipe
    rec = endpoint.read_record(copied)
    assert not rec["alive"] and rec["other_run"] == str(orig.resolve())
    killed = []
    monkeypatch.setattr(endpoint, "kill_group", killed.append)
    assert "left alone" in endpoint.stop_recorded(copied) and not killed
    assert not runs.server_record(copied).exists() and path.exists()


def test_plan_of_a_copy_names_the_copys_checkpoints(finished_run):
    """The acceptance, as a user types it: `swiftplus plan RECIPE --set run_dir=<copy>`."""
    recipe, orig, copy = finished_run
    shutil.rmtree(orig)
    r = run_cli("plan", recipe, "--set", f"run_dir={copy}", "--stage", "deploy", "--json")
    assert r.returncode == 0, r.stderr
    (step,) = json.loads(r.stdout)
    assert model_arg(step["argv"]) == str(copy / "stage2/output/checkpoint-6")


@pytest.fixture(autouse=True)
def _warnings_said_afresh():
    errors._said.clear()
