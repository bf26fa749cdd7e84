"""Serving tests: a tiny real-architecture stage-2 model, recipes that point at it, and a process census."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


# The served family (seed 000's): fixture name, ms-swift model_type and template.
FAMILY = ("qwen2.5-vl", "qwen2_5_vl")


@pytest.fixture(scope="session")
def tiny_vl(tmp_path_factory) -> Path:
    """A randomly initialised tiny VLM standing in for a stage-2 checkpoint (answers garbage; the pipeline
    is what is tested)."""
    from swiftplus.fixtures import build

    return build(FAMILY[0], tmp_path_factory.mktemp("models") / f"tiny-{FAMILY[0]}")


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


def write_recipe(dir: Path, model: Path, *, port: int = 8000, limit=4, extra: str = "", name: str = "served") -> Path:
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


def cli(*args, cwd: Path, timeout: float = 600, **kw):
    return subprocess.run([sys.executable, "-m", "swiftplus", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, **kw)
