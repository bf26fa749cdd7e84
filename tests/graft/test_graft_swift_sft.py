"""Each family's tiny graft trains a few steps with `swift sft` (CPU, fp32) using the family's model type,
template and plugin, exactly as the graft output's swiftplus_graft.json names them."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SWIFT = str(Path(sys.executable).parent / "swift")


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen3_vl", "smolvlm", "qwen2_5_vl"])
def test_swift_sft_trains_the_graft(grafted, family, tmp_path):
    from PIL import Image
    out = grafted(family).output_dir
    marker = json.loads((out / "swiftplus_graft.json").read_text())
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
