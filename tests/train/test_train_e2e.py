"""Real `swift sft` / `swift export` on a tiny Qwen2.5-VL built in the session (CPU, offline)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, handed_on, run_cli

from . import e2e

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory) -> Path:
    from swiftplus.fixtures import build

    return build("qwen2.5-vl", tmp_path_factory.mktemp("fixtures") / "qwen2.5-vl")


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Path:
    return e2e.make_images_dataset(tmp_path_factory.mktemp("data"))


def child_env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), **{k: str(v) for k, v in extra.items()})
    for k in ("NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT"):
        if k not in extra:
            env.pop(k, None)
    return env


def make(target: str, recipe: Path, *args: str) -> subprocess.CompletedProcess:
    """`make TARGET RECIPE=...` pointed at this interpreter (PY=...), so it installs nothing."""
    return subprocess.run(["make", "-C", str(REPO), target, f"RECIPE={recipe}", f"PY={sys.executable}", *args],
                          capture_output=True, text=True, env=child_env(), timeout=600)


def complete(stage_dir: Path) -> dict:
    return json.loads((stage_dir / "complete.json").read_text())


def test_stage1_then_stage2_through_make(tmp_path, tiny_vlm, images):
    recipe = tmp_path / "two-stage.yaml"
    recipe.write_text(e2e.recipe_text(tmp_path / "runs", tiny_vlm, images,
                                      stage1="  max_steps: 2\n  save_steps: 2\n",
                                      stage2="  max_steps: 2\n  save_steps: 2\n"))
    r = make("stage1", recipe)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    s1 = tmp_path / "runs/stage1"
    done1 = complete(s1)
    assert done1["checkpoint"] == "stage1/output/checkpoint-2" and done1["step"] == 2  # relative: a copy is whole
    ckpt1 = handed_on(tmp_path / "runs", "stage1")
    assert ckpt1 == (s1 / "output/checkpoint-2").resolve()
    changed = e2e.changed_by_group(tiny_vlm, ckpt1)
    assert changed["vision"][0] == 0 and changed["llm"][0] == 0, changed  # bit-identical to the init
    assert changed["projector"][0] == changed["projector"][1] > 0, changed

    # the run record, the log and the loss curve
    for name in ("recipe.yaml", "argv.json", "env.json", "versions.json", "inputs.json", "lint.json",
                 "attempts.jsonl", "train.log", "loss.png"):
        assert (s1 / name).is_file(), name
    argv = json.loads((s1 / "argv.json").read_text())
    assert argv[argv.index("--model") + 1] == str(tiny_vlm.resolve())
    inputs = json.loads((s1 / "inputs.json").read_text())
    assert "config.json" in inputs["init"] and str(images) in inputs["datasets"]
    assert json.loads((s1 / "env.json").read_text())["set"]["MAX_PIXELS"] == "3136"
    assert "'global_step/max_steps': '2/2'" in (s1 / "train.log").read_text()  # swift's own output, teed

    # running a complete stage again does nothing
    before = (ckpt1 / "model.safetensors").stat().st_mtime_ns
    r = make("stage1", recipe)
    assert r.returncode == 0 and "already complete" in r.stdout
    assert (ckpt1 / "model.safetensors").stat().st_mtime_ns == before

    r = make("stage2", recipe)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    s2 = tmp_path / "runs/stage2"
    argv2 = json.loads((s2 / "argv.json").read_text())
    assert argv2[argv2.index("--model") + 1] == str(ckpt1)  # found from stage 1's marker, not typed
    changed = e2e.changed_by_group(ckpt1, handed_on(tmp_path / "runs", "stage2"))
    assert all(c == n > 0 for c, n in changed.values()), changed  # every tensor of every group moved
    assert (s2 / "loss.png").is_file()

    # the run directory moves whole: the moved run plans and serves its own checkpoints, not the old paths
    moved = tmp_path / "moved"
    (tmp_path / "runs").rename(moved)
    r = run_cli("plan", str(recipe), "--set", f"run_dir={moved}", "--stage", "2", "--json")
    assert r.returncode == 0, r.stderr
    argv = json.loads(r.stdout)[0]["argv"]
    assert argv[argv.index("--model") + 1] == str(moved / "stage1/output/checkpoint-2")
    r = run_cli("deploy", str(recipe), "--from", "stage2", "--set", f"run_dir={moved}", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"--model {moved / 'stage2/output/checkpoint-2'}" in r.stdout and "warning" not in r.stderr


def test_two_nodes_on_loopback(tmp_path, tiny_vlm, images):
    recipe = tmp_path / "two-nodes.yaml"
    recipe.write_text(e2e.recipe_text(tmp_path / "runs", tiny_vlm, images,
                                      stage1="  max_steps: 2\n  save_steps: 2\n  ddp_backend: gloo\n"))
    port = e2e.free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "swiftplus", "train", str(recipe), "--stage", "1"],
                              env=child_env(NNODES=2, NODE_RANK=rank, NPROC_PER_NODE=1, MASTER_ADDR="127.0.0.1",
                                            MASTER_PORT=port),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
             for rank in (0, 1)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outs)
    s1 = tmp_path / "runs/stage1"
    assert [p.name for p in (s1 / "output").glob("checkpoint-*")] == ["checkpoint-2"]
    assert complete(s1)["checkpoint"] == "stage1/output/checkpoint-2"
    log0 = (s1 / "train.log").read_text()
    assert "world_size: 2" in log0 and "--nnodes 2 --node_rank 0 --master_addr 127.0.0.1" in log0
    log1 = (s1 / "node-1/train.log").read_text()
    assert "--node_rank 1" in log1 and "node 0 records completion" in outs[1]
    assert json.loads((s1 / "node-1/env.json").read_text())["set"]["NODE_RANK"] == "1"


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and everything below it at once, as a preempted node would."""
    import psutil

    parent = psutil.Process(pid)
    for p in [*parent.children(recursive=True), parent]:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs([parent], timeout=30)


def test_sigkill_after_first_checkpoint_then_resume(tmp_path, tiny_vlm, images):
    recipe = tmp_path / "killed.yaml"
    recipe.write_text(e2e.recipe_text(tmp_path / "runs", tiny_vlm, images,
                                      stage1="  max_steps: 10\n  save_steps: 2\n", stage2="  max_steps: 2\n"))
    s1 = tmp_path / "runs/stage1"
    link = s1 / "output/last-checkpoint"
    proc = subprocess.Popen([sys.executable, "-m", "swiftplus", "train", str(recipe), "--stage", "1"],
                            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while not link.is_symlink():
        assert proc.poll() is None, "stage 1 ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    _kill_tree(proc.pid)
    assert not (s1 / "complete.json").exists()
    first = int(os.readlink(link).split("-")[1])
    assert first < 10

    r = run_cli("train", str(recipe), "--stage", "2")
    assert r.returncode == 2
    assert "stage1" in r.stderr and "incomplete" in r.stderr and "--stage 1 --resume" in r.stderr
    assert not (tmp_path / "runs/stage2").exists()
    r = run_cli("train", str(recipe), "--stage", "1")  # without --resume: refused, nothing overwritten
    assert r.returncode == 2 and "interrupted after saving" in r.stderr

    r = run_cli("train", str(recipe), "--stage", "1", "--resume")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    resumed = (s1 / "train.log").read_text().split("===== swiftplus: resuming stage1")[1]
    steps = [int(s) for s in __import__("re").findall(r"'global_step/max_steps': '(\d+)/10'", resumed)]
    assert steps and steps[0] == first + 1 and steps[-1] == 10, steps  # continued, not from zero
    assert f"--resume_from_checkpoint {(s1 / 'output').resolve()}/checkpoint-{first}" in " ".join(
        json.loads((s1 / "argv.json").read_text()))
    done = complete(s1)
    assert done["step"] == 10
    events = [json.loads(x)["event"] for x in (s1 / "attempts.jsonl").read_text().splitlines()]
    assert events[0] == "start" and events[-2:] == ["resume", "exit"]


def test_lora_trains_exports_and_the_merged_model_loads(tmp_path, tiny_vlm, images):
    recipe = tmp_path / "lora.yaml"
    recipe.write_text(e2e.recipe_text(tmp_path / "runs", tiny_vlm, images, stage1=None, lora=(
        "  max_steps: 2\n  save_steps: 2\n  lora_rank: 4\n  lora_alpha: 8\n  lora_dropout: 0.05\n"
        "  target_modules: all-linear\n")))
    r = run_cli("train", str(recipe), "--stage", "lora")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    done = complete(tmp_path / "runs/lora")
    adapter = handed_on(tmp_path / "runs", "lora")
    assert done["adapter"] and (adapter / "adapter_config.json").is_file()
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 8 and cfg["lora_dropout"] == 0.05

    # as if trained on a GPU box: swift export would read attn_impl back from args.json; swiftplus passes its own
    args_json = adapter / "args.json"
    args_json.write_text(json.dumps({**json.loads(args_json.read_text()), "attn_impl": "flash_attn"}))
    r = run_cli("export", str(recipe))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    export = tmp_path / "runs/export"
    assert complete(export)["checkpoint"] == "export/output" and complete(export)["adapters"] == done["checkpoint"]
    merged = handed_on(tmp_path / "runs", "export")
    assert merged == (export / "output").resolve() and not (export / "output.partial").exists()
    r = run_cli("export", str(recipe))
    assert r.returncode == 0 and "already complete" in r.stdout

    changed = e2e.changed_by_group(tiny_vlm, merged)
    assert changed["llm"][0] > 0, changed  # the adapters were merged in

    import torch
    from PIL import Image
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(merged, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(merged)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what color"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(text=[text], images=[Image.open(images.parent / "img0.png")], return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
