"""graft.host: donor through the pipeline a user runs, on the tiny fixtures (CPU, offline): `swiftplus graft`,
stage 1 (only the merger moves: the vision tower and Qwen3's decoder stay bit-identical), stage 2 (everything
moves), `swift deploy` with the transformers backend answering an image question; and LoRA merged by
`swift export` into a model that loads as the host's class."""
import base64
import io
import json
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import handed_on, run_cli
from tests.train import e2e

pytestmark = pytest.mark.slow


def _recipe(tmp_path: Path, built, data: Path, sections: str) -> Path:
    path = tmp_path / "lossless.yaml"
    path.write_text(f"""name: lossless
run_dir: {tmp_path / 'runs'}
env: {{MAX_PIXELS: 3136}}
plugins: [qwen2_5_vl_qwen3]
swift: {{model_type: qwen2_5_vl_qwen3, template: qwen2_5_vl_qwen3, torch_dtype: float32}}
graft: {{template: {built('qwen2.5-vl')}, donor: {built('qwen3')}, host: donor}}
deploy: {{infer_backend: transformers, max_new_tokens: 4, ready_timeout: 100}}
{sections.replace('DATA', str(data))}""")
    return path


def _ok(r) -> None:
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def _checkpoint(tmp_path: Path, stage: str) -> Path:
    return handed_on(tmp_path / "runs", stage)


def _ask(endpoint, content) -> dict:
    body = json.dumps({"model": endpoint.model, "max_tokens": 4, "temperature": 0,
                       "messages": [{"role": "user", "content": content}]}).encode()
    req = urllib.request.Request(f"{endpoint.base_url}/chat/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


STAGES = """stage1:
  dataset: [{path: DATA, format: swift}]
  learning_rate: 1.0e-2
  max_steps: 2
  save_steps: 2
""" + e2e.CPU_FLAGS + """stage2:
  dataset: [{path: DATA, format: swift}]
  learning_rate: 1.0e-3
  max_steps: 2
  save_steps: 2
""" + e2e.CPU_FLAGS


def test_graft_stage1_stage2_and_an_image_question_answered(tmp_path, built):
    from PIL import Image

    from swiftplus.recipe.load import load_recipe
    from swiftplus.serve.server import serving

    recipe = _recipe(tmp_path, built, e2e.make_images_dataset(tmp_path / "data"), STAGES)
    r = run_cli("graft", recipe)
    _ok(r)
    assert "max |diff| = 0 -> equal to the donor" in r.stdout
    graft_dir = tmp_path / "runs" / "graft"

    _ok(run_cli("train", recipe, "--stage", "1"))
    stage1 = _checkpoint(tmp_path, "stage1")
    changed = e2e.changed_by_group(graft_dir, stage1)
    assert changed["vision"][0] == 0 and changed["llm"][0] == 0, changed  # frozen: bit-identical
    assert changed["projector"][0] == changed["projector"][1] > 0, changed
    saved = json.loads((stage1 / "config.json").read_text())
    assert saved["model_type"] == "qwen2_5_vl_qwen3"  # still the host, not a plain Qwen2.5-VL

    _ok(run_cli("train", recipe, "--stage", "2"))
    changed = e2e.changed_by_group(stage1, _checkpoint(tmp_path, "stage2"))
    assert all(c == n > 0 for c, n in changed.values()), changed

    png = io.BytesIO()
    Image.new("RGB", (56, 56), (30, 60, 200)).save(png, format="PNG")
    image = {"type": "image_url",
             "image_url": {"url": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()}}
    question = {"type": "text", "text": "what color is this"}
    with serving(load_recipe(str(recipe)).recipe, "stage2", log_dir=tmp_path / "deploy") as endpoint:
        with_image, text_only = _ask(endpoint, [image, question]), _ask(endpoint, [question])
    assert isinstance(with_image["choices"][0]["message"]["content"], str)
    assert with_image["usage"]["completion_tokens"] > 0
    assert with_image["usage"]["prompt_tokens"] > text_only["usage"]["prompt_tokens"] + 1  # image tokens went in


LORA = """lora:
  init: graft
  dataset: [{path: DATA, format: swift}]
  learning_rate: 1.0e-2
  max_steps: 2
  save_steps: 2
  lora_rank: 4
  lora_alpha: 8
  target_modules: all-linear
""" + e2e.CPU_FLAGS


def test_lora_is_merged_by_swift_export_into_the_host(tmp_path, built):
    import torch

    from swiftplus.plugins.models.qwen2_5_vl_qwen3 import Qwen2_5_VLQwen3ForConditionalGeneration

    recipe = _recipe(tmp_path, built, e2e.make_images_dataset(tmp_path / "data"), LORA)
    _ok(run_cli("graft", recipe))
    _ok(run_cli("train", recipe, "--stage", "lora"))
    _ok(run_cli("export", recipe))
    merged = _checkpoint(tmp_path, "export")
    assert json.loads((merged / "config.json").read_text())["model_type"] == "qwen2_5_vl_qwen3"
    changed = e2e.changed_by_group(tmp_path / "runs" / "graft", merged)
    assert changed["llm"][0] > 0, changed  # the adapters were merged into the decoder
    weights = e2e.load_tensors(merged)
    assert "model.layers.0.self_attn.q_norm.weight" in weights  # the QK-norm survives the merge
    model, info = Qwen2_5_VLQwen3ForConditionalGeneration.from_pretrained(merged, dtype=torch.float32,
                                                                          output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
