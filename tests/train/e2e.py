"""Shared pieces of the end-to-end training tests: a tiny image dataset, recipes, tensor groups."""
from __future__ import annotations

import json
import socket
from pathlib import Path

# CPU: float32, no hub check, no dataloader workers, no reporting, tiny steps; swift's default
# gradient_accumulation_steps would aim at a total batch of 16, so it is pinned to 1.
CPU_FLAGS = """  per_device_train_batch_size: 2
  gradient_accumulation_steps: 1
  dataloader_num_workers: 0
  report_to: none
  logging_steps: 1
  dataset_num_proc: 1
"""


def make_images_dataset(root: Path, rows: int = 12) -> Path:
    """rows of 56x56 single-colour images, each asked its colour, in ms-swift's messages format."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    colours = {"red": (220, 20, 20), "blue": (20, 20, 220), "green": (20, 200, 20)}
    lines = []
    for i in range(rows):
        name = list(colours)[i % len(colours)]
        img = root / f"img{i}.png"
        Image.new("RGB", (56, 56), colours[name]).save(img)
        lines.append(json.dumps({"messages": [{"role": "user", "content": "<image>what color is this"},
                                              {"role": "assistant", "content": f"the {name}"}],
                                 "images": [str(img)]}))
    path = root / "train.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def recipe_text(run_dir: Path, init: Path, data: Path, *, stage1: str = "", stage2: str | None = None,
                lora: str | None = None) -> str:
    text = f"""name: tiny-train
run_dir: {run_dir}
env: {{MAX_PIXELS: 3136}}
swift: {{model_type: qwen2_5_vl, template: qwen2_5_vl, torch_dtype: float32}}
"""
    if stage1 is not None:
        text += f"""stage1:
  init: {init}
  dataset: [{{path: {data}, format: swift}}]
  learning_rate: 1.0e-2
{CPU_FLAGS}{stage1}"""
    if stage2 is not None:
        text += f"""stage2:
  dataset: [{{path: {data}, format: swift}}]
  learning_rate: 1.0e-3
{CPU_FLAGS}{stage2}"""
    if lora is not None:
        text += f"""lora:
  init: {init}
  dataset: [{{path: {data}, format: swift}}]
  learning_rate: 1.0e-2
{CPU_FLAGS}{lora}"""
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qwen2_vl_groups() -> dict[str, list[str]]:
    """ms-swift's own module prefixes for the qwen2_vl architecture (Qwen2-VL and Qwen2.5-VL), as on disk.

    In memory (transformers 5) the modules are model.visual / model.language_model; checkpoints keep the
    hub layout, visual.* and model.* (save_pretrained maps them back)."""
    from swift.model.model_arch import get_model_arch

    arch = get_model_arch("qwen2_vl")

    def on_disk(prefix: str) -> str:
        if prefix.startswith("model.visual"):
            return prefix[len("model."):]
        if prefix.startswith("model.language_model"):
            return "model" + prefix[len("model.language_model"):]
        return prefix

    as_list = lambda v: [v] if isinstance(v, str) else list(v)  # noqa: E731
    return {"projector": [on_disk(p) for p in as_list(arch.aligner)],
            "vision": [on_disk(p) for p in as_list(arch.vision_tower)],
            "llm": [on_disk(p) for p in as_list(arch.language_model)]}


def group_of(name: str, groups: dict[str, list[str]]) -> str:
    """The most specific prefix wins (the projector sits inside the vision tower's prefix)."""
    best, length = None, -1
    for group, prefixes in groups.items():
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and len(p) > length:
                best, length = group, len(p)
    if best is None:
        raise AssertionError(f"tensor {name} is in no group of {groups}")
    return best


def load_tensors(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    out = {}
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        out.update(load_file(f))
    return out


def changed_by_group(before: Path, after: Path) -> dict[str, tuple[int, int]]:
    """{group: (changed tensors, all tensors)}, comparing bit for bit.

    The fixtures are bf16 (as on the hub) and CPU training runs in float32, so a frozen tensor comes back
    as float32; bf16 -> float32 is exact and one-to-one, so comparing the upcast values is comparing bits."""
    import torch

    groups = qwen2_vl_groups()
    a, b = load_tensors(before), load_tensors(after)
    assert set(a) == set(b), set(a) ^ set(b)
    out: dict[str, list[int]] = {g: [0, 0] for g in groups}
    for name in a:
        g = group_of(name, groups)
        out[g][1] += 1
        x, y = a[name], b[name]
        if x.dtype != y.dtype:
            assert {x.dtype, y.dtype} <= {torch.bfloat16, torch.float32}, (name, x.dtype, y.dtype)
            x, y = x.float(), y.float()
        if not torch.equal(x, y):
            out[g][0] += 1
    return {g: (c, n) for g, (c, n) in out.items()}
