"""On a GPU machine (`make gpu-test`): every shipped recipe rehearsed on one GPU with its real settings (flash
attention, DeepSpeed, bf16, vLLM: nothing is substituted), where the packages it needs are installed.
Skipped without CUDA (tests/conftest.py)."""
from __future__ import annotations

import importlib.util
import os
import socket

import pytest

from swiftplus.core.errors import UserError
from swiftplus.recipe.load import load_recipe, shipped_recipes
from swiftplus.rehearse import command
from swiftplus.rehearse.rehearsal import Machine
from tests.helpers import REPO, run_cli

pytestmark = pytest.mark.gpu
LAUNCH = ("NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT")


def needed_packages(data: dict) -> list[str]:
    """The GPU-only packages a recipe's own settings load."""
    needs = set()
    for name in ("swift", "stage1", "stage2", "lora", "deploy"):
        section = data.get(name) or {}
        if str(section.get("attn_impl", "")).startswith("flash"):
            needs.add("flash_attn")
        if section.get("deepspeed"):
            needs.add("deepspeed")
        if section.get("infer_backend") in ("vllm", "sglang", "lmdeploy"):
            needs.add(section["infer_backend"])
        if section.get("report_to") == "tensorboard":
            needs.add("tensorboard")
    return sorted(needs)


def peak(out: str, step: str) -> str:
    table = out[out.rindex("\nstep "):].splitlines()
    row = next(line for line in table if line.startswith(step + " "))
    return row.split()[3]


@pytest.mark.parametrize("name", sorted(shipped_recipes()))
def test_a_shipped_recipe_rehearses_on_one_gpu_with_its_real_settings(tmp_path, name):
    loaded = load_recipe(name)
    try:  # a family without a tiny model is refused by name (test_command.py)
        command.rehearsal(loaded.recipe, loaded.data, Machine(gpus=1, cpus=1, hub_reachable=False), {},
                          work=tmp_path / "plan", fixtures_root=tmp_path / "fixtures", exists=lambda p: False)
    except UserError as e:
        pytest.skip(str(e))
    missing = [p for p in needed_packages(loaded.data) if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)} (make install GPU=1)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH}
    env.update(PYTHONPATH=str(REPO), NPROC_PER_NODE="1", CUDA_VISIBLE_DEVICES=env.get("CUDA_VISIBLE_DEVICES") or "0")
    r = run_cli("rehearse", name, "--set", f"deploy.port={port}", cwd=tmp_path, env=env, timeout=420)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]
    assert "CPU equivalents" not in r.stdout  # a GPU rehearsal keeps the recipe's settings
    for stage in ("stage1", "stage2", "lora"):
        if getattr(loaded.recipe, stage) is not None:
            assert peak(r.stdout, stage) != "-", r.stdout[-2000:]  # memory per GPU was measured
