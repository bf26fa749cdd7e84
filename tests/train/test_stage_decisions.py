"""Stage state -> what to do: skip, start, resume, or a refusal that says what to run instead."""
import json

import pytest

from swiftplus.core import runs
from swiftplus.core.errors import UserError
from swiftplus.recipe.load import load_recipe
from swiftplus.train.run import prepare
from swiftplus.train.state import completion, decide, init_model, stage_state
from tests.helpers import RunAt, link_last, make_checkpoint, write_safetensors


@pytest.fixture
def recipe_file(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    write_safetensors(model / "model.safetensors")
    path = tmp_path / "r.yaml"
    path.write_text(f"""
name: r
run_dir: {tmp_path}/runs
swift: {{model_type: qwen2_5_vl, template: qwen2_5_vl}}
stage1:
  init: {model}
  dataset: [AI-ModelScope/LLaVA-Instruct-150K]
  save_steps: 2
stage2:
  dataset: [AI-ModelScope/LLaVA-Instruct-150K]
""")
    return path


def state(recipe_file, stage="stage1"):
    loaded = load_recipe(str(recipe_file))
    return loaded, stage_state(loaded.recipe, stage)


def test_fresh_stage_starts(recipe_file):
    _, s = state(recipe_file)
    d = decide(s, resume=False, command="swiftplus train r --stage 1")
    assert d.action == "start" and d.resume_from is None and not d.clean_output


def test_complete_stage_is_a_no_op(recipe_file, tmp_path):
    root = tmp_path / "runs/stage1"
    runs.mark_complete(root, {"checkpoint": str(root / "output/checkpoint-4")})
    _, s = state(recipe_file)
    for resume in (False, True):
        d = decide(s, resume, "cmd")
        assert d.action == "skip" and "already complete" in d.message and str(root) in d.message


def test_interrupted_stage_refuses_without_resume_and_resumes_with_it(recipe_file, tmp_path):
    out = tmp_path / "runs/stage1/output"
    make_checkpoint(out, 2)
    make_checkpoint(out, 4, state=False)  # cut off mid-save: no trainer_state.json, no link
    link_last(out, 2)
    _, s = state(recipe_file)
    with pytest.raises(UserError) as e:
        decide(s, False, "swiftplus train r --stage 1")
    msg = str(e.value)
    assert "interrupted after saving checkpoint-2 (step 2 of 10)" in msg
    assert "swiftplus train r --stage 1 --resume" in msg and "delete" in msg
    d = decide(s, True, "swiftplus train r --stage 1")
    assert d.action == "resume" and d.resume_from == out / "checkpoint-2"


def test_a_failed_attempt_without_checkpoint_starts_over(recipe_file, tmp_path):
    out = tmp_path / "runs/stage1/output"
    out.mkdir(parents=True)
    (out / "args.json").write_text("{}")
    _, s = state(recipe_file)
    for resume in (False, True):
        d = decide(s, resume, "cmd")
        assert d.action == "start" and d.clean_output
    assert "nothing to continue from" in decide(s, True, "cmd").message
    # another node must not wipe what node 0 is writing
    assert not decide(s, False, "cmd", node_rank=1).clean_output


def test_stage2_refuses_an_incomplete_stage1(recipe_file, tmp_path):
    loaded = load_recipe(str(recipe_file))
    with pytest.raises(UserError, match=r"stage1 has not run yet\. Run it first: swiftplus train r --stage 1$"):
        init_model(loaded.recipe, "stage2", "r")
    out = tmp_path / "runs/stage1/output"
    make_checkpoint(out, 2)
    link_last(out, 2)
    with pytest.raises(UserError) as e:
        init_model(loaded.recipe, "stage2", "r")
    assert "incomplete" in str(e.value) and "checkpoint-2" in str(e.value)
    assert str(e.value).endswith("Finish it first: swiftplus train r --stage 1 --resume")
    with pytest.raises(UserError, match="incomplete"):  # prepare refuses before any argv exists
        prepare(loaded, "stage2", {}, ref="r")


# init: best needs stage 1 to evaluate (validate refuses it otherwise)
EVALUATES = ["stage1.split_dataset_ratio=0.01", "stage1.eval_steps=2"]


def test_stage2_starts_from_stage1_final_or_best_checkpoint(recipe_file, tmp_path):
    out = tmp_path / "runs/stage1/output"
    best = make_checkpoint(out, 2)
    final = make_checkpoint(out, 4, best=str(best))
    link_last(out, 4)
    info = completion(out, "stage1", RunAt(tmp_path / "runs"))
    # named relative to the run directory, so a copy of the run hands on its own checkpoints
    assert info["checkpoint"] == "stage1/output/checkpoint-4" and info["best_checkpoint"] == "stage1/output/checkpoint-2"
    assert info["step"] == 4 and info["adapter"] is False
    runs.mark_complete(tmp_path / "runs/stage1", info)
    loaded = load_recipe(str(recipe_file))
    assert init_model(loaded.recipe, "stage2", "r") == str(final.resolve())
    best_loaded = load_recipe(str(recipe_file), ["stage2.init=best", *EVALUATES])
    assert init_model(best_loaded.recipe, "stage2", "r") == str(best.resolve())
    run = prepare(loaded, "stage2", {}, ref="r")
    assert run.argv[run.argv.index("--model") + 1] == str(final.resolve())
    assert run.argv[run.argv.index("--freeze_vit") + 1] == "false"


def test_best_without_a_best_checkpoint_is_an_error_not_a_silent_fallback(recipe_file, tmp_path):
    out = tmp_path / "runs/stage1/output"
    make_checkpoint(out, 4)
    link_last(out, 4)
    runs.mark_complete(tmp_path / "runs/stage1", completion(out, "stage1", RunAt(tmp_path / "runs")))
    loaded = load_recipe(str(recipe_file), ["stage2.init=best", *EVALUATES])
    with pytest.raises(UserError, match="recorded no best checkpoint"):
        init_model(loaded.recipe, "stage2", "r")


def test_explicit_init_must_be_a_model_dir_or_a_hub_id(recipe_file, tmp_path):
    loaded = load_recipe(str(recipe_file), [f"stage1.init={tmp_path}/nowhere"])
    with pytest.raises(UserError, match="no such directory"):
        init_model(loaded.recipe, "stage1", "r")
    loaded = load_recipe(str(recipe_file), [f"stage1.init={tmp_path}"])
    with pytest.raises(UserError, match="no config.json"):
        init_model(loaded.recipe, "stage1", "r")
    loaded = load_recipe(str(recipe_file), ["stage1.init=Qwen/Qwen2.5-VL-7B-Instruct"])
    assert init_model(loaded.recipe, "stage1", "r") == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_stage1_from_an_unbuilt_graft_says_to_graft_first(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(f"""
name: g
run_dir: {tmp_path}/runs
swift: {{model_type: qwen2_5_vl, template: qwen2_5_vl}}
graft: {{template: Qwen/Qwen2.5-VL-7B-Instruct, donor: Qwen/Qwen3-8B}}
stage1: {{dataset: [x/y]}}
""")
    loaded = load_recipe(str(path))
    with pytest.raises(UserError, match=r"not built yet\. Build it first: swiftplus graft g"):
        init_model(loaded.recipe, "stage1", "g")
    graft = tmp_path / "runs/graft"
    graft.mkdir(parents=True)
    (graft / "swiftplus_graft.json").write_text("{}")
    assert init_model(loaded.recipe, "stage1", "g") == str(graft)


@pytest.mark.parametrize("kwargs, missing", [
    ({}, []),
    ({"weights": False}, ["model.safetensors"]),
    ({"config": False}, ["config.json"]),
    ({"adapter": True}, []),
    ({"adapter": True, "weights": False}, ["adapter_model.safetensors"]),
])
def test_completion_needs_weights_and_config(tmp_path, kwargs, missing):
    out = tmp_path / "output"
    make_checkpoint(out, 3, **kwargs)
    link_last(out, 3)
    if missing:
        with pytest.raises(UserError) as e:
            completion(out, "stage1", RunAt(tmp_path))
        assert all(m in str(e.value) for m in missing)
    else:
        assert completion(out, "stage1", RunAt(tmp_path))["step"] == 3


def test_completion_checks_every_shard_of_an_index(tmp_path):
    out = tmp_path / "output"
    ckpt = make_checkpoint(out, 5, weights=False)
    (ckpt / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    write_safetensors(ckpt / "model-00001-of-00002.safetensors")
    link_last(out, 5)
    with pytest.raises(UserError, match="model-00002-of-00002.safetensors"):
        completion(out, "stage1", RunAt(tmp_path))
    write_safetensors(ckpt / "model-00002-of-00002.safetensors")
    assert completion(out, "stage1", RunAt(tmp_path))["checkpoint"] == "output/checkpoint-5"


def test_completion_without_any_checkpoint(tmp_path):
    (tmp_path / "output").mkdir()
    with pytest.raises(UserError, match="no saved checkpoint"):
        completion(tmp_path / "output", "stage1", RunAt(tmp_path))


def test_save_strategy_no_is_refused_at_validate(recipe_file):
    """Refused when the recipe loads (validate, plan, run all load it), before the graft or stage 1 have run."""
    with pytest.raises(UserError, match=r"stage1\.save_strategy.*could never hand one on; stage2 start\(s\) from it"):
        load_recipe(str(recipe_file), ["stage1.save_strategy=no"])
    with pytest.raises(UserError, match=r"stage2\.save_strategy"):
        load_recipe(str(recipe_file), ["stage2.save_strategy=false"])


def test_a_stage_still_running_here_is_not_started_twice(recipe_file, tmp_path):
    import socket
    import subprocess

    loaded = load_recipe(str(recipe_file))
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        runs.write_json_atomic(tmp_path / "runs/stage1/running.json", {"pgid": sleeper.pid, "host": socket.gethostname()})
        with pytest.raises(UserError, match=rf"already running on this machine .*kill -- -{sleeper.pid}"):
            prepare(loaded, "stage1", {}, ref="r")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert prepare(loaded, "stage1", {}, ref="r").decision.action == "start"  # a stale marker is ignored


def test_zombies_do_not_count_as_running():
    import subprocess

    from swiftplus.core.process import group_alive, group_running

    child = subprocess.Popen(["true"], start_new_session=True)
    import time

    deadline = time.monotonic() + 10
    while group_running(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_alive(child.pid) and not group_running(child.pid)  # exited, not yet reaped
    child.wait()
    assert not group_alive(child.pid)


def test_completion_agrees_with_swifts_own_last_checkpoint(tmp_path):
    out = tmp_path / "output"
    make_checkpoint(out, 4)
    make_checkpoint(out, 6, state=False)  # swift said it saved 6, but 6 never finished
    link_last(out, 4)
    (out / "logging.jsonl").write_text(json.dumps({"loss": 1.0, "global_step/max_steps": "6/6"}) + "\n"
                                       + json.dumps({"last_model_checkpoint": str(out / "checkpoint-6")}) + "\n")
    with pytest.raises(UserError, match="reported .*checkpoint-6.* is checkpoint-4"):
        completion(out, "stage1", RunAt(tmp_path))
    with open(out / "logging.jsonl", "a") as f:  # a resumed attempt appends its own summary
        f.write(json.dumps({"last_model_checkpoint": str(out / "last-checkpoint")}) + "\n")
    assert completion(out, "stage1", RunAt(tmp_path))["step"] == 4
