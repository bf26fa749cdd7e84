"""What many test packages share: the repository path, the CLI as a user runs it, fake swift outputs,
and the serving helpers (a local eval set, a recipe whose stage 2 is complete, a process census)."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI_TIMEOUT = 600  # the slowest verb a test runs end to end (train, deploy + eval on CPU)


def run_cli(*args, cwd: Path = REPO, env: dict | None = None, timeout: float = CLI_TIMEOUT, **kw):
    """`python -m swiftplus ARGS` in a fresh interpreter, on this checkout: exit status and both streams."""
    env = dict(os.environ if env is None else env)
    env.setdefault("PYTHONPATH", str(REPO))
    return subprocess.run([sys.executable, "-m", "swiftplus", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=timeout, **kw)


# --- what `swift sft` leaves behind, written by hand (no torch) -------------------------------------------

def write_safetensors(path: Path, names=("w",)) -> None:
    """A valid, tiny safetensors file (float32 scalars)."""
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


def handed_on(run_dir: Path, stage: str) -> Path:
    """The checkpoint a completed stage's record names, read as swiftplus reads it: relative to its run
    directory (an absolute entry, as older records hold, is taken as it is)."""
    value = json.loads((Path(run_dir) / stage / "complete.json").read_text())["checkpoint"]
    return (Path(run_dir) / value).resolve()


class RunAt:
    """A stand-in recipe whose run directory is `path`: core/runs asks a recipe for nothing else."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def run_path(self) -> str:
        return str(self.path)


# --- serving ------------------------------------------------------------------------------------------

# The served family (seed 000's): fixture name, ms-swift model_type and template.
FAMILY = ("qwen2.5-vl", "qwen2_5_vl")


def make_vmcq(root: Path, n: int = 6) -> Path:
    """A general_vmcq set drawn with PIL; image paths relative to the data file, as users write them."""
    from PIL import Image

    colours = [("red", (220, 30, 30)), ("green", (30, 200, 30)), ("blue", (30, 30, 220)), ("yellow", (230, 230, 30))]
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        name, rgb = colours[i % 4]
        Image.new("RGB", (56, 56), rgb).save(root / "img" / f"{i}.png")
        rows.append({"question": "<image 1> What colour fills this image?", "options": [c for c, _ in colours],
                     "image_1": f"img/{i}.png", "answer": "ABCD"[i % 4]})
    (root / "default_val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def served_recipe(dir: Path, model: Path, *, port: int = 8000, limit=4, extra: str = "", name: str = "served") -> Path:
    """A recipe whose stage 2 has completed with `model` as its checkpoint."""
    run_dir = dir / "runs" / name
    (run_dir / "stage2").mkdir(parents=True, exist_ok=True)
    (run_dir / "stage2" / "complete.json").write_text(json.dumps({"checkpoint": str(model)}))
    text = f"""
name: {name}
run_dir: {run_dir}
swift: {{model_type: {FAMILY[1]}, template: {FAMILY[1]}}}
stage1: {{init: {model}, dataset: [unused.jsonl]}}
stage2: {{dataset: [unused.jsonl]}}
deploy:
  infer_backend: transformers
  max_new_tokens: 8
  port: {port}
  served_model_name: tiny-vl
  ready_timeout: 300
eval:
  local:
    - {{name: colours, path: {dir / 'vmcq'}, kind: vmcq}}
  limit: {limit}
  generation_config: {{max_tokens: 8, temperature: 0.0}}
{extra}"""
    path = dir / f"{name}.yaml"
    path.write_text(text)
    return path


def processes_mentioning(text: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", "--", text], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def assert_none_left(text: str, wait: float = 15.0) -> None:
    deadline = time.time() + wait
    while processes_mentioning(text) and time.time() < deadline:
        time.sleep(0.2)
    assert not processes_mentioning(text), processes_mentioning(text)
