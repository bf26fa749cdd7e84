"""A backend that cannot build the served architecture is refused before `swift deploy` starts."""
from __future__ import annotations

import json

import pytest

from swiftplus.core.errors import UserError
from swiftplus.graft.families import family_by_name
from swiftplus.serve import backends

# the architectures each family's checkpoints carry (config.json `architectures`)
QWEN2_VL, QWEN2_5_VL, QWEN3_VL, SMOLVLM, LLAVA, DONOR_HOST = (
    family_by_name(name).architecture for name in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "smolvlm", "llava",
                                                   "qwen2_5_vl_qwen3"))


def checkpoint(tmp_path, arch: str):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": [arch]}))
    return tmp_path


def test_lmdeploy_cannot_serve_the_smolvlm_family(tmp_path):
    model = checkpoint(tmp_path, SMOLVLM)
    with pytest.raises(UserError) as e:
        backends.check_backend_serves("lmdeploy", model)
    text = str(e.value)
    assert text.startswith("deploy.infer_backend: lmdeploy cannot serve SmolVLMForConditionalGeneration")
    assert "transformers, vllm" in text and "--set deploy.infer_backend=" in text


@pytest.mark.parametrize("backend", ["vllm", "lmdeploy", "transformers"])
def test_the_qwen_families_are_served_by_every_backend(tmp_path, backend):
    for arch in (QWEN2_VL, QWEN2_5_VL, QWEN3_VL):
        backends.check_backend_serves(backend, checkpoint(tmp_path, arch))


def test_what_is_not_known_here_is_left_to_the_backend(tmp_path):
    assert backends.backend_problem("lmdeploy", ["SomethingNewForCausalLM"]) is None
    assert backends.backend_problem("sglang", [SMOLVLM]) is None
    assert backends.architectures(tmp_path / "nowhere") == []


def test_vllm_cannot_serve_a_smolvlm_graft_with_a_qwen3_decoder(tmp_path):
    # vLLM's Idefics3 builds a Llama decoder whatever text_config says; a Llama-decoder SmolVLM is its own model
    (tmp_path / "config.json").write_text(json.dumps({"architectures": [SMOLVLM],
                                                      "text_config": {"model_type": "qwen3"}}))
    with pytest.raises(UserError) as e:
        backends.check_backend_serves("vllm", tmp_path)
    assert "builds a llama decoder" in str(e.value) and "text_config is qwen3" in str(e.value)
    assert "--set deploy.infer_backend=transformers" in str(e.value) and "=vllm" not in str(e.value)
    backends.check_backend_serves("transformers", tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architectures": [SMOLVLM],
                                                      "text_config": {"model_type": "llama"}}))
    backends.check_backend_serves("vllm", tmp_path)


def test_the_llava_family_is_served_by_every_backend_and_the_donor_host_by_transformers_only(tmp_path):
    for backend in ("vllm", "lmdeploy", "transformers"):
        backends.check_backend_serves(backend, checkpoint(tmp_path, LLAVA))
    backends.check_backend_serves("transformers", checkpoint(tmp_path, DONOR_HOST))
    with pytest.raises(UserError, match="vllm cannot serve Qwen2_5_VLQwen3ForConditionalGeneration"):
        backends.check_backend_serves("vllm", checkpoint(tmp_path, DONOR_HOST))
