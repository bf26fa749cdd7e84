"""`swiftplus doctor RECIPE` and the preflight of the launching verbs, as a user meets them."""
import os
import re
import subprocess
import sys

import pytest

from swiftplus.cli import main
from swiftplus.core import gpus
from swiftplus.doctor import probe
from swiftplus.doctor.checks import Space
from tests.helpers import REPO, run_cli


@pytest.fixture
def bare_machine(monkeypatch, tmp_path):
    """No GPU, none of the GPU packages, 100 GB free everywhere, empty hub caches; run directories in tmp."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for key in ("NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_ADDR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(probe, "importable", lambda modules: {m: False for m in modules})
    monkeypatch.setattr(probe, "space", lambda paths: {p: Space(1, 100e9, "/data") for p in paths})
    monkeypatch.chdir(tmp_path)


def cli_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NPROC_PER_NODE", "NNODES", "NODE_RANK")}
    env.update(CUDA_VISIBLE_DEVICES="", MODELSCOPE_CACHE=str(tmp_path / "ms"), HF_HOME=str(tmp_path / "hf"),
               PYTHONPATH=str(REPO))
    return env


def test_doctor_names_every_unmet_need_of_the_8b_recipe_with_its_fix(bare_machine, capsys):
    assert main(["doctor", "qwen3-8b-vl"]) == 2
    out, err = capsys.readouterr()
    problems = re.findall(r"^  \d+\. (.*?)\n     fix: (.+?)$", err, flags=re.M | re.S)
    said = "\n".join(p for p, _ in problems)
    assert len(problems) == 7, err
    assert "stage1.attn_impl: flash_attn, stage2.attn_impl: flash_attn: needs the flash_attn package" in said
    assert "stage1.deepspeed: zero2, stage2.deepspeed: zero2: needs the deepspeed package" in said
    assert "deploy.infer_backend: vllm: needs the vllm package" in said
    assert "stage1: GPUs: DeepSpeed zero2 and attn_impl flash_attn need(s) a GPU, but none is visible" in said
    assert "deploy: GPUs: infer_backend vllm" in said
    assert re.search(r"disk: /data: needs ~71\d GB, 100 GB free", said)
    assert all(fix.strip() for _, fix in problems)
    assert "LLaVA-Instruct-150K (allowance)" in err and "3 checkpoint(s) x 141.9 GB" in err
    assert "\n            1 process(es) per node x 1 node(s), DeepSpeed zero2" in out  # the estimates, on stdout


def test_doctor_tiny_passes(tmp_path):
    r = run_cli("doctor", "tiny", cwd=tmp_path, env=cli_env(tmp_path), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "doctor: every need is met" in r.stdout and "stage2" in r.stdout


def test_doctor_imports_no_heavy_library(tmp_path):
    code = ("import sys, io, contextlib\nfrom swiftplus.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    assert main(['doctor', 'qwen3-8b-vl']) == 2\n    assert main(['doctor', 'tiny']) == 0\n"
            "heavy = [m for m in ('torch', 'swift', 'transformers', 'evalscope') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=cli_env(tmp_path), timeout=120)
    assert r.returncode == 0, r.stderr


def test_train_is_refused_before_anything_is_written(tmp_path):
    r = run_cli("train", "qwen3-8b-vl", "--stage", "1", cwd=tmp_path, env=cli_env(tmp_path), timeout=120)
    assert r.returncode == 2
    assert "preflight for stage1" in r.stderr and "GPUs" in r.stderr and "Nothing was started" in r.stderr
    assert not (tmp_path / "runs").exists()
    expert = run_cli("train", "qwen3-8b-vl", "--stage", "1", "--skip-preflight", cwd=tmp_path,
                     env=cli_env(tmp_path), timeout=120)
    assert expert.returncode == 2 and "preflight" not in expert.stderr
    assert "graft output" in expert.stderr  # the next check in line: stage 1 starts from the graft


def test_run_checks_serving_before_training(tmp_path):
    r = run_cli("run", "qwen3-8b-vl", cwd=tmp_path, env=cli_env(tmp_path), timeout=120)
    assert r.returncode == 2
    assert "preflight for graft, stage1, stage2, deploy, eval" in r.stderr
    assert "deploy.infer_backend: vllm" in r.stderr and "deploy: GPUs: infer_backend vllm" in r.stderr


def test_deploy_and_export_are_checked(bare_machine, capsys):
    assert main(["deploy", "qwen3-8b-vl"]) == 2
    assert "preflight for deploy" in capsys.readouterr().err
    assert main(["export", "qwen2.5-vl-7b-lora"]) == 2  # 17 GB fits in 100: the export's own refusal follows
    out, err = capsys.readouterr()
    assert "preflight: ok" in out and "preflight for" not in err and "lora is not complete" in err


def test_export_without_room_for_the_merged_model(bare_machine, monkeypatch, capsys):
    monkeypatch.setattr(probe, "space", lambda paths: {p: Space(1, 5e9, "/data") for p in paths})
    assert main(["export", "qwen2.5-vl-7b-lora"]) == 2
    err = capsys.readouterr().err
    assert "preflight for export" in err and "merged model" in err and "5 GB free" in err


def test_the_nproc_default_is_reported(bare_machine, monkeypatch, capsys):
    fake = [gpus.Gpu(i, f"GPU-{i}", "NVIDIA H100 80GB HBM3", 81559) for i in range(8)]
    monkeypatch.setattr(gpus, "_smi", lambda: (fake, "nvidia-smi"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr(probe, "importable", lambda modules: {m: True for m in modules})
    monkeypatch.setattr(probe, "space", lambda paths: {p: Space(1, 10e12, "/data") for p in paths})
    assert main(["doctor", "qwen3-8b-vl"]) == 0
    out = capsys.readouterr().out
    assert "8 process(es) per node x 1 node(s) (NPROC_PER_NODE unset: one per visible GPU), DeepSpeed zero2" in out
