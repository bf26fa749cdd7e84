"""The vLLM registration of graft.host: donor, as far as a machine without vLLM or a GPU can check it: the
entry point vLLM reads, what `register` hands vLLM's ModelRegistry, and where every tensor of a graft lands in
vLLM's modules (the table in the module cites vLLM 0.33.0's source). The last test serves the model with vLLM
and needs a GPU; it has not run yet (SERVED_ON_GPU is False until it has)."""
import ast
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swiftplus.graft import graft
from swiftplus.graft.safetensors_io import scan_checkpoint
from swiftplus.plugins.models import qwen2_5_vl_qwen3_vllm as reg
from tests.helpers import REPO


def _hub_to_transformers_5(name: str) -> str:
    if name.startswith("visual."):
        return "model." + name
    if name.startswith("model."):
        return "model.language_model." + name[len("model."):]
    return name


@pytest.fixture(scope="module")
def lossless(built, tmp_path_factory):
    return graft(built("qwen2.5-vl"), built("qwen3"), tmp_path_factory.mktemp("g") / "g", host="donor", proof=False,
                 log=lambda _: None).output_dir


def test_every_tensor_lands_in_a_qwen3_decoder_or_the_vision_tower(lossless):
    names = list(scan_checkpoint(lossless))
    layers = json.loads((lossless / "config.json").read_text())["num_hidden_layers"]
    landed = {}
    for name in names:
        target, shard = reg.vllm_parameter(name)
        assert reg.vllm_parameter(_hub_to_transformers_5(name)) == (target, shard), name  # both layouts agree
        if target.startswith("visual."):
            assert name.startswith("visual.")
        else:
            assert reg.is_decoder_parameter(target), (name, target)
        landed.setdefault(target, set()).add(shard)
    for i in range(layers):
        attn = f"language_model.model.layers.{i}.self_attn."
        assert landed[attn + "q_norm.weight"] == landed[attn + "k_norm.weight"] == {None}  # QK-norm kept
        assert landed[attn + "qkv_proj.weight"] == {"q", "k", "v"}
        assert landed[f"language_model.model.layers.{i}.mlp.gate_up_proj.weight"] == {0, 1}
    assert "language_model.lm_head.weight" in landed and not [t for t in landed if t.endswith("qkv_proj.bias")]
    # the vision tower's own stacking
    assert reg.vllm_parameter("visual.blocks.0.mlp.up_proj.weight") == ("visual.blocks.0.mlp.gate_up_proj.weight", 1)
    assert reg.vllm_parameter("visual.blocks.0.attn.qkv.weight") == ("visual.blocks.0.attn.qkv.weight", None)


def test_a_qwen2_decoder_would_have_no_place_for_the_qk_norm():
    """The table tells the two decoders apart: a bias (Qwen2's) is not a parameter of the registered decoder."""
    assert not reg.is_decoder_parameter("language_model.model.layers.0.self_attn.qkv_proj.bias")
    assert reg.is_decoder_parameter("language_model.model.layers.0.self_attn.k_norm.weight")


def test_the_entry_point_vllm_reads_names_register():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    plugins = project["entry-points"]["vllm.general_plugins"]
    module, attr = plugins["swiftplus_qwen2_5_vl_qwen3"].split(":")
    assert getattr(importlib.import_module(module), attr) is reg.register


REGISTER = """
import json, sys, types
registered = {}
class Registry:
    def get_supported_archs(self): return registered.keys()
    def register_model(self, arch, cls): registered[arch] = cls
vllm = types.ModuleType("vllm"); vllm.ModelRegistry = Registry(); sys.modules["vllm"] = vllm
from transformers import AutoConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
before = "qwen2_5_vl_qwen3" in CONFIG_MAPPING
from swiftplus.plugins.models.qwen2_5_vl_qwen3_vllm import register
register(); register()  # vLLM may load a plugin more than once
print(json.dumps({"before": before, "registered": registered,
                  "config": type(AutoConfig.for_model("qwen2_5_vl_qwen3")).__name__}))
"""


def test_register_adds_the_architecture_lazily_and_teaches_autoconfig_the_model_type():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", REGISTER], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"before": False, "registered": {reg.ARCHITECTURE: reg.MODEL_CLASS},
                   "config": "Qwen2_5_VLQwen3Config"}
    # the lazily imported class exists where the string says, built on vLLM's Qwen2.5-VL with Qwen3's decoder
    module, cls = reg.MODEL_CLASS.split(":")
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    assert [b.id for b in node.bases] == ["Qwen2_5_VLForConditionalGeneration"]
    call = next(n for n in ast.walk(node) if isinstance(n, ast.Call)
                and getattr(n.func, "id", None) == "init_vllm_registered_model")
    kwargs = {k.arg: ast.unparse(k.value) for k in call.keywords}
    assert kwargs["architectures"] == "['Qwen3ForCausalLM']" and kwargs["hf_config"] == "config.text_config"


@pytest.mark.gpu
@pytest.mark.slow
def test_vllm_serves_the_graft_as_transformers_does(lossless, monkeypatch):
    """Prompt log-probabilities from vLLM match transformers' on text and on an image (fp32): QK-norm, head_dim
    and the sectioned M-RoPE all reach vLLM. When this passes on a GPU, SERVED_ON_GPU may become True."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or importlib.util.find_spec("vllm") is None:
        pytest.skip("needs a CUDA GPU and vLLM (`make gpu-extra`)")
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # one process: the engine sees register() below
    from PIL import Image
    from transformers import AutoProcessor
    from vllm import LLM, SamplingParams

    from swiftplus.plugins.models.qwen2_5_vl_qwen3 import Qwen2_5_VLQwen3ForConditionalGeneration
    reg.register()
    processor = AutoProcessor.from_pretrained(lossless)
    hf = Qwen2_5_VLQwen3ForConditionalGeneration.from_pretrained(lossless, dtype=torch.float32).eval()
    llm = LLM(model=str(lossless), dtype="float32", enforce_eager=True, max_model_len=256,
              limit_mm_per_prompt={"image": 1}, gpu_memory_utilization=0.3)
    image = Image.new("RGB", (56, 56), (200, 40, 40))
    for content, images in (([{"type": "text", "text": "Say hi."}], None),
                            ([{"type": "image"}, {"type": "text", "text": "Colour?"}], [image])):
        text = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
        inputs = processor(text=[text], images=images, return_tensors="pt")
        with torch.no_grad():
            want = torch.log_softmax(hf(**inputs).logits[0, :-1].float(), -1)
        ids = inputs["input_ids"][0, 1:]
        want = want.gather(-1, ids[:, None])[:, 0]
        prompt = {"prompt": text, **({"multi_modal_data": {"image": image}} if images else {})}
        out = llm.generate([prompt], SamplingParams(max_tokens=1, prompt_logprobs=0))[0]
        assert out.prompt_token_ids == inputs["input_ids"][0].tolist()
        got = torch.tensor([lp[t].logprob for lp, t in zip(out.prompt_logprobs[1:], ids.tolist())])
        assert torch.allclose(got, want, atol=1e-3), (got - want).abs().max()
