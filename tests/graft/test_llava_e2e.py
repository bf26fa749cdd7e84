"""The llava family end to end on CPU, once per donor chat format: `swiftplus run` grafts (text logits equal to the
donor's), trains stage 1 (only the projector moves) and stage 2, serves stage 2 with `swift deploy` (transformers
backend) and has EvalScope answer a few questions; every checkpoint keeps the names vLLM's LLaVA loader takes.
Tiny sizes and two steps per stage: CI runs this on 2 cores."""
import json
from pathlib import Path

import pytest

from swiftplus.graft.safetensors_io import scan_checkpoint
from swiftplus.graft.vllm_names import as_vllm_names, check_llava_names, skipped_by_vllm
from tests.graft.test_graft_swift import _ask
from tests.helpers import assert_none_left, handed_on, run_cli
from tests.train.e2e import group_of, load_tensors

pytestmark = pytest.mark.slow

# donor chat format -> (vision source, donor): the recipe's SmolVLM2 + Qwen3 pair, and CLIP + Llama 3
CASES = {"qwen3": ("smolvlm2", "qwen3-tied"), "llama3": ("clip", "llama3")}


def _recipe(tmp_path: Path, chat: str, source: Path, donor: Path) -> Path:
    run_dir = tmp_path / "runs"
    path = tmp_path / f"llava-{chat}.yaml"
    path.write_text(f"""name: llava-{chat}
run_dir: {run_dir}
synthetic: {{task: shapes, train: 8, evaluate: 4, size: 56}}
plugins: [llava_graft]
swift: {{model_type: llava_{chat}, template: llava_{chat}, torch_dtype: float32}}
graft: {{template: {source}, donor: {donor}, family: llava}}
stage1: &train
  dataset: [{{path: {run_dir}/task/train.jsonl, format: swift}}]
  max_steps: 2
  save_steps: 2
  learning_rate: 1.0e-2
  per_device_train_batch_size: 2
  gradient_accumulation_steps: 1
  max_length: 256
  dataloader_num_workers: 0
  dataset_num_proc: 1
  report_to: none
  logging_steps: 1
stage2:
  <<: *train
  learning_rate: 1.0e-3
deploy: {{infer_backend: transformers, max_new_tokens: 4, ready_timeout: 120}}
eval:
  local: [{{name: shapes, path: {run_dir}/task/eval, kind: vmcq, subsets: [shapes]}}]
  limit: 2
  generation_config: {{temperature: 0.0, max_tokens: 4}}
""")
    return path


def _groups() -> dict[str, list[str]]:
    """ms-swift's llava_hf module groups (what --freeze_vit / _aligner / _llm act on), as checkpoint names."""
    from swift.model.model_arch import get_model_arch

    arch = get_model_arch("llava_hf")
    as_list = lambda v: [v] if isinstance(v, str) else list(v)  # noqa: E731
    on_disk = lambda p: as_vllm_names([p + "."])[p + "."].rstrip(".")  # noqa: E731  legacy llava-hf names
    return {"projector": [on_disk(p) for p in as_list(arch.aligner)],
            "vision": [on_disk(p) for p in as_list(arch.vision_tower)],
            "llm": [on_disk(p) for p in as_list(arch.language_model)]}


def _changed(before: Path, after: Path) -> dict[str, set[str]]:
    """{group: names whose values changed}; every tensor must fall in a group. Frozen fixture tensors come back
    as float32 after CPU training; bf16 -> float32 is exact, so comparing upcast values compares bits."""
    import torch

    groups, a, b = _groups(), load_tensors(before), load_tensors(after)
    assert set(a) == set(b), set(a) ^ set(b)
    out = {g: set() for g in groups}
    for name in a:
        group = group_of(name, groups)
        if not torch.equal(a[name].float(), b[name].float()):
            out[group].add(name)
    return out


@pytest.mark.parametrize("chat", CASES)
def test_graft_train_serve_evaluate(built, tmp_path, chat):
    source, donor = (built(name) for name in CASES[chat])
    recipe = _recipe(tmp_path, chat, source, donor)
    r = run_cli("run", recipe, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    root = tmp_path / "runs"

    graft_dir = root / "graft"
    report = json.loads((graft_dir / "graft_report.json").read_text())
    assert report["text_equivalence"]["max_abs_diff"] == 0.0 and report["text_equivalence"]["full_depth"]
    assert report["vision_reachability"]["ok"] and report["swift"]["swift_model_type"] == f"llava_{chat}"
    cfg = json.loads((graft_dir / "config.json").read_text())

    ckpt = {s: handed_on(root, s) for s in ("stage1", "stage2")}
    for path in [graft_dir, *ckpt.values()]:  # what swift saves keeps the names vLLM loads
        check = check_llava_names(list(scan_checkpoint(path)), json.loads((path / "config.json").read_text()))
        assert check["ok"], (path, check["problems"])

    names = set(scan_checkpoint(graft_dir))
    groups = {g: {n for n in names if group_of(n, _groups()) == g} for g in ("projector", "vision", "llm")}
    stage1 = _changed(graft_dir, ckpt["stage1"])
    assert stage1 == {"projector": groups["projector"], "vision": set(), "llm": set()}  # only the projector moved
    stage2 = _changed(ckpt["stage1"], ckpt["stage2"])
    assert stage2["projector"] == groups["projector"] and stage2["llm"] == groups["llm"]
    # every tower tensor LLaVA runs moved; the ones it never runs are exactly those vLLM's loader discards
    assert groups["vision"] - stage2["vision"] == skipped_by_vllm(list(names), cfg) != set()

    results = json.loads((root / "eval" / "results.json").read_text())["rows"]
    assert [(row["source"], row["samples"], row["errors"]) for row in results] == [("stage2", 2, 0)]
    assert (root / "eval" / "stage2" / "server.log").read_text().count("POST /v1/chat/completions") == 2

    # served, an image becomes exactly the tower's feature count of image tokens
    import base64
    import io

    from PIL import Image

    from swiftplus.recipe.load import load_recipe
    from swiftplus.serve.server import serving

    png = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 60, 200)).save(png, format="PNG")
    image = {"type": "image_url",
             "image_url": {"url": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()}}
    question = {"type": "text", "text": "What colour is this?"}
    with serving(load_recipe(str(recipe)).recipe, "stage2", log_dir=tmp_path / "deploy") as endpoint:
        with_image, text_only = _ask(endpoint, [image, question]), _ask(endpoint, [question])
    assert with_image["usage"]["prompt_tokens"] - text_only["usage"]["prompt_tokens"] == cfg["image_seq_length"]
    assert_none_left(str(ckpt["stage2"]))
