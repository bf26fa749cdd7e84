"""`plan` prints the exact commands with ms-swift 4.x names, instantly, without importing torch or swift."""
import json
import subprocess
import sys
from pathlib import Path

from swiftplus.core import gpus
from swiftplus.pipeline.plan import plan
from swiftplus.recipe.load import load_recipe


def test_plan_qwen3_8b_vl_matches_seed_000(cli):
    r = cli("plan", "qwen3-8b-vl")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.count("swift sft") == 2
    assert out.count("swift deploy") == 1
    assert "--train_type" not in out and out.count("--tuner_type full") == 2
    stage1, stage2 = out.split("# stage2")[0], out.split("# stage2")[1].split("# deploy")[0]
    for flag in ("--freeze_vit true", "--freeze_llm true", "--freeze_aligner false"):
        assert flag in stage1
    for flag in ("--freeze_vit false", "--freeze_llm false", "--freeze_aligner false"):
        assert flag in stage2
    for flag in ("--deepspeed zero2", "--learning_rate 5e-06", "--max_length 8192", "--gradient_accumulation_steps 8",
                 "--model runs/qwen3-8b-vl/graft", "MAX_PIXELS=1003520"):
        assert flag in stage1
    deploy = out.split("# deploy")[1].split("# eval")[0]
    for flag in ("--infer_backend vllm", "--vllm_gpu_memory_utilization 0.9", "--vllm_max_model_len 8192",
                 "--max_new_tokens 2048", "--served_model_name Qwen3-VL", "VIDEO_MAX_PIXELS=50176", "FPS_MAX_FRAMES=12"):
        assert flag in deploy
    assert """'{"image": 5, "video": 2}'""" in deploy
    assert '"datasets": [\n      "mmmu"' in out and '"eval_type": "openai_api"' in out


def test_plan_imports_neither_torch_nor_swift():
    code = ("import sys, io, contextlib\nfrom swiftplus.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    assert main(['plan', 'qwen3-8b-vl']) == 0\n"
            "    assert main(['validate', 'qwen3-vl-2b-0.6b']) == 0\n"
            "heavy = [m for m in ('torch', 'swift', 'transformers', 'evalscope') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def eight_gpus(monkeypatch):
    fake = [gpus.Gpu(i, f"GPU-{i}", "NVIDIA H100 80GB HBM3", 81559) for i in range(8)]
    monkeypatch.setattr(gpus, "_smi", lambda: (fake, "nvidia-smi"))


def test_plan_per_node(monkeypatch):
    eight_gpus(monkeypatch)
    loaded = load_recipe("qwen3-8b-vl")
    env = {"NNODES": "3", "NODE_RANK": "1", "MASTER_ADDR": "10.1.2.3", "MASTER_PORT": "29600"}
    steps = [s for s in plan(loaded, ["stage1"], environ=env)]
    assert [s.node_rank for s in steps] == [0, 1, 2]
    for rank, step in enumerate(steps):
        assert step.env["NODE_RANK"] == str(rank)
        assert step.env["NNODES"] == "3" and step.env["MASTER_ADDR"] == "10.1.2.3"
        assert step.env["NPROC_PER_NODE"] == "8"  # unset: one process per visible GPU
        assert any("NPROC_PER_NODE is unset: 8" in n for n in step.notes)
    only_mine = plan(loaded, ["stage1"], environ=env, all_nodes=False)
    assert [s.node_rank for s in only_mine] == [1]


def test_environment_wins_over_the_gpu_count(monkeypatch):
    eight_gpus(monkeypatch)
    loaded = load_recipe("qwen3-8b-vl")
    (step,) = plan(loaded, ["stage1"], environ={"NPROC_PER_NODE": "4"})
    assert step.env["NPROC_PER_NODE"] == "4" and not step.notes


def test_plan_json_and_stage_filter(cli):
    r = cli("plan", "qwen3-8b-vl", "--stage", "2", "--json")
    assert r.returncode == 0, r.stderr
    steps = json.loads(r.stdout)
    assert [s["stage"] for s in steps] == ["stage2"]
    assert Path(steps[0]["argv"][0]).name == "swift" and steps[0]["argv"][1] == "sft"
    assert "resolved when stage1 completes" in steps[0]["notes"][0]


def test_stage2_uses_stage1_final_checkpoint_once_complete(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = load_recipe("qwen3-8b-vl")
    ckpt = tmp_path / "runs/qwen3-8b-vl/stage1/output/checkpoint-30"
    ckpt.mkdir(parents=True)
    (tmp_path / "runs/qwen3-8b-vl/stage1/complete.json").write_text(json.dumps({"checkpoint": str(ckpt)}))
    (step,) = plan(loaded, ["stage2"], environ={})
    assert step.argv[step.argv.index("--model") + 1] == str(ckpt)
    assert not step.notes


def test_lora_recipe_plans_lora_export_deploy(cli):
    r = cli("plan", "qwen2.5-vl-7b-lora")
    assert r.returncode == 0, r.stderr
    assert "--tuner_type lora" in r.stdout and "--lora_rank 8" in r.stdout and "--target_modules all-linear" in r.stdout
    assert "swift export" in r.stdout and "--merge_lora true" in r.stdout
    assert "--model Qwen/Qwen2.5-VL-7B-Instruct" in r.stdout


def test_yaml_no_for_a_strategy_reaches_swift_as_no():
    loaded = load_recipe("qwen3-8b-vl", ["stage1.eval_strategy=no", "stage1.logging_strategy=steps"])
    assert loaded.recipe.stage1.flags["eval_strategy"] is False  # what YAML 1.1 makes of `no`
    (step,) = plan(loaded, ["stage1"], environ={})
    argv = step.argv
    assert argv[argv.index("--eval_strategy") + 1] == "no" and argv[argv.index("--logging_strategy") + 1] == "steps"


def test_plan_tiny_grafts_the_hosts_and_asks_each_checkpoint_its_sets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    steps = {s.stage: s for s in plan(load_recipe("tiny"), ["graft", "eval"], environ={})}
    host, lossless = steps["graft"].detail["also_into"]
    assert host["template"] == "fixture:qwen2.5-vl" and host["output"] == "runs/tiny/graft-qwen2.5-vl"
    assert (lossless["host"], lossless["output"]) == ("donor", "runs/tiny/graft-qwen2.5-vl-lossless")
    asked = [(Path(c["work_dir"]).parent.name, c["dataset_args"]["general_vmcq"]["subset_list"])
             for c in steps["eval"].detail]
    assert asked == [("donor", ["text"]), ("graft", ["text"]), ("graft", ["shapes"]), ("graft-qwen2.5-vl", ["text"]),
                     ("graft-qwen2.5-vl-lossless", ["text"]), ("stage1", ["shapes"]), ("stage1", ["blank"]),
                     ("stage2", ["shapes"]), ("stage2", ["blank"])]
