"""`make rehearse` end to end on the CPU: each acceptance recipe passes and leaves only its report; planted
faults fail at the right step with the tool's own error and a pointer to the fix; two nodes on loopback."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli

pytestmark = pytest.mark.slow
LAUNCH = ("NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH}
    return {**env, "PYTHONPATH": str(REPO), **{k: str(v) for k, v in extra.items()}}


def make_rehearse(cwd: Path, recipe: str, *sets: str) -> subprocess.CompletedProcess:
    """`make rehearse RECIPE=...` with this interpreter (PY=...: installs nothing), from a scratch directory."""
    return subprocess.run(["make", "-s", "-f", str(REPO / "Makefile"), "rehearse", f"RECIPE={recipe}",
                           f"PY={sys.executable}", f"SET={' '.join(sets)}"], cwd=cwd, capture_output=True, text=True,
                          env=child_env(), timeout=900)


def rehearse(cwd: Path, recipe: str, *sets: str) -> subprocess.CompletedProcess:
    """`swiftplus rehearse` itself, for its exit status (make turns every failure into 2)."""
    return run_cli("rehearse", recipe, *[a for s in sets for a in ("--set", s)], cwd=cwd, env=child_env(), timeout=900)


def steps(out: str) -> dict[str, str]:
    """step -> result, from the table the rehearsal prints last."""
    table = out[out.rindex("\nstep "):].strip().splitlines()[1:]
    found = {}
    for line in table:
        if not line.strip():
            break
        parts = line.split()
        found[parts[0]] = parts[1] if parts[1] != "not" else "not run"
    return found


def left_behind(cwd: Path) -> list[str]:
    return sorted(str(p.relative_to(cwd)) for p in (cwd / "runs").rglob("*") if p.is_file())


ALL_STEPS = ["data", "graft", "stage1", "stage2", "deploy", "eval"]


# The issue-13 recipes, and of the newer graft families the two whose rehearsal runs a path no other slow test
# runs: a SigLIP tower through the whole pipeline (llava family, two gloo ranks in place of DeepSpeed's, vLLM's
# support of the family checked) and graft.host: donor under two ranks. qwen3-smvl-llava rehearses the llava
# family on the SmolVLM2 + tied Qwen3 fixtures that tests/graft/test_llava_e2e.py runs end to end, with
# qwen3-smvl's data path; test_command.py checks its rehearsal recipe.
@pytest.mark.parametrize("recipe,family", [
    ("tiny", "qwen3_vl"),
    ("qwen3-vl-2b-0.6b", "qwen3_vl"),
    ("qwen3-smvl", "smolvlm"),
    ("qwen3-8b-vl", "qwen2_5_vl"),
    ("qwen3-8b-siglip", "llava"),
    ("qwen3-8b-vl-lossless", "qwen2_5_vl_qwen3"),
])
def test_a_shipped_recipe_rehearses_on_cpu_and_leaves_only_its_report(tmp_path, recipe, family):
    r = make_rehearse(tmp_path, recipe, f"deploy.port={free_port()}")
    out = r.stdout
    assert r.returncode == 0, out[-5000:] + r.stderr[-3000:]
    assert f"rehearsal of {recipe}: what differs from the real run" in out
    assert steps(out) == {s: "pass" for s in ALL_STEPS}, out[-3000:]
    assert f"graft: family {family} " in out  # the recipe's own graft family, on its fixtures
    assert left_behind(tmp_path) == [f"runs/{recipe}/rehearsal/report.md"]
    report = (tmp_path / f"runs/{recipe}/rehearsal/report.md").read_text()
    assert "rehearsal passed" in report and "| stage1 | pass |" in report
    if recipe != "tiny":  # the real recipes name their GPU-only settings and their absent data
        assert "CPU equivalents (no GPU on this machine)" in out and "NOT rehearsed here" in out
        assert " GiB (1 GPU) |" in report  # the doctor's estimate for the real size, one process here


def test_a_lora_of_released_qwen2_vl_rehearses_on_its_family_s_fixture(tmp_path):
    """seed 003's recipe (LoRA on Qwen2-VL-2B, merged, served): trained, merged and served as ms-swift's qwen2_vl on
    the tiny Qwen2-VL the family names, a stand-in for each vision-tag file that is not here."""
    recipe = "qwen2-vl-2b-coco-lora"
    r = make_rehearse(tmp_path, recipe, f"deploy.port={free_port()}")
    out = r.stdout
    assert r.returncode == 0, out[-5000:] + r.stderr[-3000:]
    assert steps(out) == {"data": "pass", "lora": "pass", "export": "pass", "deploy": "pass"}, out[-3000:]
    assert "lora.init: Qwen/Qwen2-VL-2B-Instruct -> " in out and "fixtures/qwen2-vl " in out
    assert "--model_type qwen2_vl --template qwen2_vl" in out
    assert left_behind(tmp_path) == [f"runs/{recipe}/rehearsal/report.md"]
    assert "rehearsal passed" in (tmp_path / f"runs/{recipe}/rehearsal/report.md").read_text()


def test_a_flag_swift_rejects_at_start_up_fails_stage1_with_swifts_error(tmp_path):
    r = rehearse(tmp_path, "tiny", "stage1.lr_scheduler_type=cosine_wobble", "stage2=null", "eval=null",
                      f"deploy.port={free_port()}")
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-2000:]
    assert steps(r.stdout) == {"data": "pass", "graft": "pass", "stage1": "FAIL", "deploy": "not run"}
    assert "stage1 failed: ValueError: cosine_wobble is not a valid SchedulerType" in r.stdout
    assert "fix: stage1.lr_scheduler_type (cosine_wobble) in" in r.stdout
    report = (tmp_path / "runs/tiny/rehearsal/report.md").read_text()
    assert "## Failure: stage1" in report and "Last lines of its log" in report
    assert left_behind(tmp_path) == ["runs/tiny/rehearsal/report.md"]


def test_a_row_whose_image_is_missing_fails_stage1_naming_the_users_own_line(tmp_path):
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (56, 56), (200, 30, 30)).save(data / "red.png")
    rows = [{"messages": [{"role": "user", "content": "<image>What colour?"}, {"role": "assistant", "content": "red"}],
             "images": ["gone.png" if i == 2 else "red.png"]} for i in range(6)]
    (data / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "mine.yaml").write_text("base: tiny\nstage1:\n  dataset: [{path: data/train.jsonl, format: swift, "
                                        "data_root: data}]\nstage2: null\neval: null\n")
    r = rehearse(tmp_path, "mine.yaml", f"deploy.port={free_port()}")
    assert r.returncode == 1, r.stdout[-3000:]
    assert steps(r.stdout) == {"data": "pass", "graft": "pass", "stage1": "FAIL", "deploy": "not run"}
    assert "data/train.jsonl:3: missing_file:" in r.stdout and "gone.png does not exist" in r.stdout
    assert "fix: `swiftplus data lint data/train.jsonl`" in r.stdout
    assert left_behind(tmp_path) == ["runs/mine/rehearsal/report.md"]


def test_a_port_in_use_fails_deploy(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # without its stages, tiny's eval asks only what is left (validation refuses absent stages)
        r = rehearse(tmp_path, "tiny", "stage1=null", "stage2=null", "eval.compare=[graft]",
                     "eval.local=[{name: text, path: runs/tiny/task/eval, kind: vmcq, subsets: [text], sources: [graft]}]",
                     f"deploy.port={port}")
    assert r.returncode == 1, r.stdout[-3000:]
    assert steps(r.stdout) == {"data": "pass", "graft": "pass", "deploy": "FAIL", "eval": "not run"}
    assert f"deploy failed: cannot deploy on 127.0.0.1:{port}: port {port} is in use" in r.stdout
    assert "fix: the real `swiftplus deploy tiny` would be refused the same port" in r.stdout


def test_a_deploy_backend_the_family_cannot_use_fails_deploy(tmp_path):
    r = rehearse(tmp_path, "qwen3-smvl", "deploy.infer_backend=lmdeploy", "stage1=null", "stage2=null",
                      f"deploy.port={free_port()}")
    assert r.returncode == 1, r.stdout[-3000:]
    assert steps(r.stdout) == {"data": "pass", "graft": "pass", "deploy": "FAIL", "eval": "not run"}
    assert "deploy failed: deploy.infer_backend: lmdeploy cannot serve SmolVLMForConditionalGeneration" in r.stdout
    assert "--set deploy.infer_backend=vllm" in r.stdout


def test_two_nodes_rehearse_a_recipe_without_a_graft(tmp_path):
    """A LoRA on a released VLM: node 1 waits for node 0's data (there is no graft to wait for) and trains with it."""
    common = dict(NNODES=2, MASTER_ADDR="127.0.0.1", MASTER_PORT=free_port(), NPROC_PER_NODE=1)
    args = ["rehearse", "qwen2.5-vl-7b-lora", "--set", "deploy=null", "--set", "eval=null"]
    procs = [subprocess.Popen([sys.executable, "-m", "swiftplus", *args], cwd=tmp_path, text=True,
                              env=child_env(NODE_RANK=rank, **common), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for rank in (1, 0)]
    try:
        outs = [p.communicate(timeout=900)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    node1, node0 = outs
    assert [p.returncode for p in procs] == [0, 0], node0[-3000:] + node1[-3000:]
    assert steps(node1)["data"] == "pass" and steps(node1)["lora"] == "pass"
    assert node1.count("--nnodes 2 --node_rank 1 --master_addr 127.0.0.1") == 1


def test_two_nodes_on_loopback_train_together(tmp_path):
    """Each node runs the rehearsal with its own NODE_RANK, as the real job would: one torchrun rendezvous
    of two nodes per stage; node 0 grafts and records completion, node 1 waits for it."""
    common = dict(NNODES=2, MASTER_ADDR="127.0.0.1", MASTER_PORT=free_port(), NPROC_PER_NODE=1)
    args = ["rehearse", "tiny", "--set", "deploy=null", "--set", "eval=null"]
    procs = [subprocess.Popen([sys.executable, "-m", "swiftplus", *args], cwd=tmp_path, text=True,
                              env=child_env(NODE_RANK=rank, **common), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for rank in (1, 0)]
    try:
        outs = [p.communicate(timeout=900)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    node1, node0 = outs
    assert [p.returncode for p in procs] == [0, 0], node0[-3000:] + node1[-3000:]
    assert steps(node0) == {"data": "pass", "graft": "pass", "stage1": "pass", "stage2": "pass"}
    assert steps(node1) == {"data": "pass", "graft": "pass", "stage1": "pass", "stage2": "pass"}
    assert "pass (by node 0)" in node1
    for out, rank in ((node0, 0), (node1, 1)):
        assert out.count(f"--nnodes 2 --node_rank {rank} --master_addr 127.0.0.1") == 2
        assert out.count(f"rank: {rank}, local_rank: 0, world_size: 2") == 2  # both stages joined one group
    assert left_behind(tmp_path) == ["runs/tiny/rehearsal/report.md"]
