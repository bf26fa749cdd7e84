"""Helpers for the training tests: fake swift output directories for the pure parts."""
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd=REPO, env=None, timeout=600):
    """The CLI as a user runs it: a fresh interpreter, its exit status and both streams."""
    env = dict(os.environ if env is None else env)
    env.setdefault("PYTHONPATH", str(REPO))
    return subprocess.run([sys.executable, "-m", "swiftplus", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


def write_safetensors(path: Path, names=("w",)) -> None:
    """A valid, tiny safetensors file (float32 scalars) written by hand: no torch needed."""
    header, offset = {}, 0
    for n in names:
        header[n] = {"dtype": "F32", "shape": [1], "data_offsets": [offset, offset + 4]}
        offset += 4
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def make_checkpoint(output: Path, step: int, *, state=True, weights=True, config=True, max_steps=10,
                    adapter=False, best=None) -> Path:
    ckpt = output / f"checkpoint-{step}"
    ckpt.mkdir(parents=True, exist_ok=True)
    if adapter:
        (ckpt / "adapter_config.json").write_text("{}")
        if weights:
            write_safetensors(ckpt / "adapter_model.safetensors")
    else:
        if config:
            (ckpt / "config.json").write_text("{}")
        if weights:
            write_safetensors(ckpt / "model.safetensors")
    if state:
        (ckpt / "trainer_state.json").write_text(json.dumps(
            {"global_step": step, "max_steps": max_steps, "best_model_checkpoint": best}))
    return ckpt


def link_last(output: Path, step: int) -> None:
    link = output / "last-checkpoint"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(f"checkpoint-{step}")


@pytest.fixture
def fake_ckpt():
    return make_checkpoint
