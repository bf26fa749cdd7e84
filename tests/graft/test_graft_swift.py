"""Each family's graft is used the way the pipeline uses it, with the ms-swift model type, template and plugin
its swiftplus_graft.json names: `swift sft` trains it a few steps (CPU, fp32), and `swift deploy`
(transformers backend) serves it and answers a chat completion carrying an image."""
import base64
import io
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.graft.conftest import FAMILIES, PAIRS
from tests.helpers import assert_none_left

SWIFT = str(Path(sys.executable).parent / "swift")


def _marker(out: Path) -> dict:
    return json.loads((out / "swiftplus_graft.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_swift_sft_trains_the_graft(grafted, family, tmp_path):
    from PIL import Image
    out = grafted(family).output_dir
    marker = _marker(out)
    Image.new("RGB", (64, 64), (255, 0, 0)).save(tmp_path / "red.png")
    row = {"messages": [{"role": "user", "content": "<image>What colour?"}, {"role": "assistant", "content": "red"}],
           "images": [str(tmp_path / "red.png")]}
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(row) for _ in range(4)))
    argv = [SWIFT, "sft", "--model", str(out), "--model_type", marker["swift_model_type"],
            "--template", marker["swift_template"], "--dataset", str(tmp_path / "data.jsonl"),
            "--tuner_type", "full", "--torch_dtype", "float32", "--check_model", "false", "--max_steps", "2",
            "--output_dir", str(tmp_path / "run"), "--report_to", "none", "--save_steps", "2",
            "--logging_steps", "1", "--dataloader_num_workers", "0", "--dataset_num_proc", "1"]
    for plugin in marker["swift_external_plugins"]:
        argv += ["--external_plugins", plugin]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=110,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "MODELSCOPE_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'loss'" in proc.stdout + proc.stderr
    assert list((tmp_path / "run").rglob("model*.safetensors"))


def _recipe(tmp_path: Path, family: str, out: Path, built) -> Path:
    """A recipe whose graft section is the session's graft of `family` (already complete)."""
    marker = _marker(out)
    plugins = [Path(p).stem for p in marker["swift_external_plugins"]]
    template, donor, _ = PAIRS[family]
    path = tmp_path / f"{family}.yaml"
    path.write_text(f"""
name: graft-{family}
run_dir: {tmp_path / 'runs'}
swift: {{model_type: {marker['swift_model_type']}, template: {marker['swift_template']}}}
plugins: {json.dumps(plugins)}
graft: {{template: {built(template)}, donor: {built(donor)}, output: {out}}}
deploy: {{infer_backend: transformers, max_new_tokens: 4, served_model_name: graft-{family}, ready_timeout: 100}}
""")
    return path


def _ask(endpoint, content) -> dict:
    body = json.dumps({"model": endpoint.model, "max_tokens": 4, "temperature": 0,
                       "messages": [{"role": "user", "content": content}]}).encode()
    req = urllib.request.Request(f"{endpoint.base_url}/chat/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_swift_deploy_answers_an_image_request(grafted, built, family, tmp_path):
    from PIL import Image

    from swiftplus.recipe.load import load_recipe
    from swiftplus.serve.server import serving
    out = grafted(family).output_dir
    recipe = load_recipe(str(_recipe(tmp_path, family, out, built))).recipe
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 60, 200)).save(png, format="PNG")
    image = {"type": "image_url",
             "image_url": {"url": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()}}
    question = {"type": "text", "text": "What colour is this?"}
    with serving(recipe, "graft", log_dir=tmp_path / "deploy") as endpoint:
        with_image = _ask(endpoint, [image, question])
        text_only = _ask(endpoint, [question])
    answer = with_image["choices"][0]["message"]["content"]
    assert isinstance(answer, str) and with_image["usage"]["completion_tokens"] > 0
    # the image was expanded into image tokens by the family's template, not dropped
    assert with_image["usage"]["prompt_tokens"] > text_only["usage"]["prompt_tokens"] + 1
    log = (tmp_path / "deploy" / "server.log").read_text()
    assert log.count("POST /v1/chat/completions") == 2
    assert_none_left(str(out))
