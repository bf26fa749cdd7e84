"""`swiftplus train` up to the launch: flag checks, dry runs, distributed variables, refusals."""
import json

import pytest

from tests.helpers import link_last, make_checkpoint, write_safetensors


@pytest.fixture
def recipe(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    write_safetensors(model / "model.safetensors")

    def write(extra_stage1: str = "", name: str = "r.yaml"):
        path = tmp_path / name
        path.write_text(f"""
name: r
run_dir: {tmp_path}/runs
env: {{MAX_PIXELS: 3136}}
swift: {{model_type: qwen2_5_vl, template: qwen2_5_vl, torch_dtype: float32}}
stage1:
  init: {model}
  dataset: [AI-ModelScope/LLaVA-Instruct-150K]
  save_steps: 2
  deepspeed: zero3
{extra_stage1}
stage2:
  dataset: [AI-ModelScope/LLaVA-Instruct-150K]
""")
        return path

    return write


@pytest.mark.parametrize("line, flag, hint", [
    ("  train_type: full", "stage1.train_type", "did you mean tuner_type? (train_type was renamed)"),
    ("  learning_rat: 1.0e-4", "stage1.learning_rat", "did you mean learning_rate?"),
    ("  freeze_vitt: true", "stage1.freeze_vitt", "did you mean freeze_vit?"),
])
def test_unknown_flag_stops_before_anything_runs(cli, recipe, tmp_path, line, flag, hint):
    r = cli("train", str(recipe(line)), "--stage", "1")
    assert r.returncode == 2
    assert flag in r.stderr and hint in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists()


def test_dry_run_prints_argv_and_env_and_writes_nothing(cli, recipe, tmp_path):
    env_vars = {"MLP_WORKER_NUM": "2", "MLP_ROLE_INDEX": "1", "MLP_WORKER_0_HOST": "10.9.8.7",
                "MLP_WORKER_0_PORT": "23456", "MLP_WORKER_GPU": "8"}
    import os

    r = cli("train", str(recipe()), "--stage", "1", "--dry-run", env=dict(os.environ, **env_vars))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for piece in ("NPROC_PER_NODE=8", "NNODES=2", "NODE_RANK=1", "MASTER_ADDR=10.9.8.7", "MASTER_PORT=23456",
                  "MAX_PIXELS=3136", "swift sft", "--tuner_type full", "--freeze_vit true", "--freeze_llm true",
                  "--freeze_aligner false", "--deepspeed zero3", "--add_version false", f"--model {tmp_path}/model",
                  f"--output_dir {tmp_path}/runs/stage1/output"):
        assert piece in out, piece
    assert "--resume_from_checkpoint" not in out
    assert not (tmp_path / "runs").exists()


def test_dry_run_resume_names_the_checkpoint(cli, recipe, tmp_path):
    out = tmp_path / "runs/stage1/output"
    make_checkpoint(out, 2)
    link_last(out, 2)
    r = cli("train", str(recipe()), "--stage", "1", "--skip-preflight")  # DeepSpeed: the preflight refuses a CPU
    assert r.returncode == 2 and "--resume" in r.stderr and "checkpoint-2" in r.stderr
    r = cli("train", str(recipe()), "--stage", "1", "--resume", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"--resume_from_checkpoint {out}/checkpoint-2" in r.stdout and "resuming stage1" in r.stdout
    r = cli("train", str(recipe()), "--stage", "2", "--dry-run")
    assert r.returncode == 2 and "incomplete" in r.stderr and "--stage 1 --resume" in r.stderr


def test_complete_stage_is_skipped(cli, recipe, tmp_path):
    (tmp_path / "runs/stage1").mkdir(parents=True)
    (tmp_path / "runs/stage1/complete.json").write_text(json.dumps({"checkpoint": "x"}))
    r = cli("train", str(recipe()), "--stage", "1")
    assert r.returncode == 0 and "already complete" in r.stdout


def test_resume_from_checkpoint_in_a_recipe_is_refused(cli, recipe):
    r = cli("train", str(recipe("  resume_from_checkpoint: /x")), "--stage", "1", "--dry-run")
    assert r.returncode == 2 and "swiftplus train --resume" in r.stderr


def test_make_stage1_with_a_misspelled_flag_stops_at_once(recipe, tmp_path):
    import os
    import subprocess
    import sys

    from tests.helpers import REPO

    r = subprocess.run(["make", "-C", str(REPO), "stage1", f"RECIPE={recipe('  num_train_epoch: 2')}",
                        f"PY={sys.executable}"], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode != 0
    assert "stage1.num_train_epoch: unknown ms-swift `swift sft` flag; did you mean num_train_epochs?" in r.stderr
    assert "pip install" not in r.stdout  # PY=... uses the interpreter as it is
    assert not (tmp_path / "runs").exists()


def test_export_refuses_until_lora_completes_and_dry_runs_after(cli, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    path = tmp_path / "l.yaml"
    path.write_text(f"""
name: l
run_dir: {tmp_path}/runs
swift: {{model_type: qwen2_5_vl, template: qwen2_5_vl, torch_dtype: float32}}
lora: {{init: {model}, dataset: [a/b], lora_rank: 4}}
""")
    r = cli("export", str(path))
    assert r.returncode == 2 and "swiftplus train" in r.stderr and "--stage lora" in r.stderr
    out = tmp_path / "runs/lora/output"
    ckpt = make_checkpoint(out, 2, adapter=True)
    link_last(out, 2)
    (tmp_path / "runs/lora/complete.json").write_text(json.dumps({"checkpoint": str(ckpt)}))
    r = cli("export", str(path), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"--adapters {ckpt}" in r.stdout and "--merge_lora true" in r.stdout
    assert f"--output_dir {tmp_path}/runs/export/output.partial" in r.stdout
    assert "--torch_dtype float32" in r.stdout and "check_model" not in r.stdout  # sft-only: export rejects it
    assert not (tmp_path / "runs/export").exists()


def test_add_version_is_managed_by_swiftplus(cli, recipe):
    r = cli("train", str(recipe("  add_version: true")), "--stage", "1", "--dry-run")
    assert r.returncode == 2 and "stage1.add_version: is set by swiftplus" in r.stderr


def test_lint_errors_above_max_bad_fraction_refuse_before_swift_starts(cli, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    img = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (56, 56), (1, 2, 3)).save(img)
    good = {"messages": [{"role": "user", "content": "<image>hi"}, {"role": "assistant", "content": "yo"}],
            "images": [str(img)]}
    missing = dict(good, images=[str(tmp_path / "nowhere.png")])
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in (good, good, good, missing)) + "\n{not json\n")
    path = tmp_path / "r.yaml"
    path.write_text(f"""
name: r
run_dir: {tmp_path}/runs
swift: {{model_type: qwen2_5_vl, template: qwen2_5_vl}}
stage1:
  init: {model}
  dataset: [{{path: {data}, format: swift}}]
  max_bad_fraction: 0.2
""")
    r = cli("train", str(path), "--stage", "1")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "training refused" in r.stderr and "2 of 5 rows" in r.stderr and "max_bad_fraction" in r.stderr
    root = tmp_path / "runs/stage1"
    lint = json.loads((root / "lint.json").read_text())
    assert lint["ok"] is False and lint["datasets"][0]["dropped"] == 2
    assert not (root / "output").exists() and not (root / "train.log").exists() and not (root / "argv.json").exists()
