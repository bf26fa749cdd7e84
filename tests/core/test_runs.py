"""The run record: what ran, with what, on which inputs; never a secret."""
import json

import yaml

from swiftplus.core import runs
from tests.helpers import RunAt, write_safetensors


def test_recorded_env_keeps_what_steers_training_and_drops_secrets():
    env = runs.recorded_env({"MAX_PIXELS": "3136", "NNODES": "2", "HF_TOKEN": "x"},
                            {"CUDA_VISIBLE_DEVICES": "0,1", "HOME": "/root", "MODELSCOPE_API_TOKEN": "y",
                             "WANDB_API_KEY": "z", "SLURM_JOB_ID": "7", "MAX_PIXELS": "999"})
    assert env["set"] == {"MAX_PIXELS": "3136", "NNODES": "2"}
    assert env["ambient"] == {"CUDA_VISIBLE_DEVICES": "0,1", "SLURM_JOB_ID": "7"}
    assert "x" not in json.dumps(env) and "y" not in json.dumps(env)


def test_input_hashes_tell_models_and_datasets_apart(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text('{"a": 1}')
    write_safetensors(model / "model.safetensors", ("x", "y"))
    data = tmp_path / "d.jsonl"
    data.write_text('{"messages": []}\n')
    first = runs.input_hashes(str(model), [data, tmp_path / "absent.jsonl"], RunAt(tmp_path / "run"))
    assert set(first["init"]) == {"path", "config.json", "safetensors_headers"}
    assert list(first["datasets"]) == [str(data)] and first["datasets"][str(data)]["bytes"] == 17
    write_safetensors(model / "model.safetensors", ("x", "z"))  # another tensor name: another header
    data.write_text('{"messages": [1]}\n')
    second = runs.input_hashes(str(model), [data], RunAt(tmp_path / "run"))
    assert first["init"]["config.json"] == second["init"]["config.json"]
    assert first["init"]["safetensors_headers"] != second["init"]["safetensors_headers"]
    assert first["datasets"][str(data)]["sha256"] != second["datasets"][str(data)]["sha256"]
    assert runs.input_hashes("Qwen/Qwen3-8B", [], RunAt(tmp_path / "run"))["init"] == {"hub_id": "Qwen/Qwen3-8B"}


def test_write_record_and_attempts(tmp_path):
    runs.write_record(tmp_path, recipe_data={"name": "r", "stage1": {"learning_rate": 1e-4}}, argv=["swift", "sft"],
                      env={"set": {}, "ambient": {}}, versions={"ms-swift": "4.6.0"}, inputs={})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(runs.RECORD_FILES)
    assert yaml.safe_load((tmp_path / "recipe.yaml").read_text())["stage1"]["learning_rate"] == 1e-4
    runs.append_attempt(tmp_path, {"event": "start"})
    runs.append_attempt(tmp_path, {"event": "exit", "rc": 0})
    lines = (tmp_path / "attempts.jsonl").read_text().splitlines()
    assert [json.loads(x)["event"] for x in lines] == ["start", "exit"]
    assert runs.record_dir(tmp_path, 0) == tmp_path and runs.record_dir(tmp_path, 2) == tmp_path / "node-2"


def test_completion_marker_is_atomic(tmp_path):
    runs.mark_complete(tmp_path, {"checkpoint": "c"})
    assert runs.read_complete(tmp_path) == {"checkpoint": "c"}
    assert [p.name for p in tmp_path.iterdir()] == ["complete.json"]  # no temporary left behind


def test_a_recorded_recipe_never_holds_a_key(tmp_path):
    data = {"name": "r", "deploy": {"api_key": "s3cret", "port": 8001}, "eval": {"vlmevalkit": {"key": "EMPTY"}},
            "env": {"HF_TOKEN": "t0ken"}}
    runs.write_record(tmp_path, recipe_data=data, argv=["swift", "sft"], env={"set": {}, "ambient": {}},
                      versions={}, inputs={})
    text = (tmp_path / "recipe.yaml").read_text()
    assert "s3cret" not in text and "t0ken" not in text
    recorded = yaml.safe_load(text)
    assert recorded["deploy"] == {"api_key": "***", "port": 8001} and recorded["eval"]["vlmevalkit"]["key"] == "EMPTY"
    assert data["deploy"]["api_key"] == "s3cret"  # the recipe in memory is untouched


def test_records_name_what_lies_inside_the_run_relative_to_it(tmp_path):
    """So a copied or moved run names its own files; what lies outside (a donor, a hub cache) stays absolute."""
    run = RunAt(tmp_path / "run")
    assert runs.record_path(run, tmp_path / "run/stage2/output/checkpoint-6") == "stage2/output/checkpoint-6"
    assert runs.record_path(run, tmp_path / "donor") == str((tmp_path / "donor").resolve())
    moved = RunAt(tmp_path / "elsewhere")
    assert runs.recorded_path(moved, "stage2/output/checkpoint-6") == (tmp_path / "elsewhere/stage2/output/checkpoint-6")
    assert str(runs.recorded_path(moved, "/abs/ckpt")) == "/abs/ckpt"  # outside, or an old record: as it is
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")  # a run reached through a link still holds its files
    assert runs.record_path(RunAt(tmp_path / "link"), tmp_path / "real/stage1") == "stage1"
