"""graft.host in recipes: validated, seed 000's recipe keeps its host, the lossless recipe differs from it only in
the host and what that host needs, and vLLM is refused for host: donor until its vLLM model has served."""
import pytest

from swiftplus.core import stages
from swiftplus.core.errors import UserError
from swiftplus.plugins.models import qwen2_5_vl_qwen3_vllm
from swiftplus.recipe.load import load_recipe

LOSSLESS = "qwen3-8b-vl-lossless"


def test_seed_000_recipe_keeps_its_host_and_the_lossless_one_only_changes_the_host():
    seed, lossless = load_recipe("qwen3-8b-vl").recipe, load_recipe(LOSSLESS).recipe
    assert seed.graft.host == "template" and lossless.graft.host == "donor"
    assert lossless.graft.allow_dropped == [] and seed.graft.allow_dropped  # nothing may be dropped
    assert (lossless.graft.template, lossless.graft.donor) == (seed.graft.template, seed.graft.donor)
    assert lossless.swift == {**seed.swift, "model_type": "qwen2_5_vl_qwen3", "template": "qwen2_5_vl_qwen3"}
    assert lossless.plugins == ["qwen2_5_vl_qwen3"] and seed.plugins == []
    for stage in stages.TRAIN:  # the same training settings
        a, b = getattr(seed, stage), getattr(lossless, stage)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.model_dump() == b.model_dump(), stage
    assert lossless.env == seed.env and lossless.eval.model_dump() == seed.eval.model_dump()
    assert seed.deploy.flags["infer_backend"] == "vllm" and lossless.deploy.flags["infer_backend"] == "transformers"


def test_host_is_validated(cli, write_recipe):
    path = write_recipe("graft:\n  template: a/b\n  donor: c/d\n  host: decoder\n")
    r = cli("validate", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{path}:4: graft.host" in r.stderr and "'template' or 'donor'" in r.stderr


# (swift.infer_backend is refused anyway: swift: holds flags every swift command accepts, and swift sft has none)
@pytest.mark.parametrize("override", ["deploy.infer_backend=vllm"])
def test_vllm_is_refused_for_host_donor_with_why_and_what_to_use(override):
    assert not qwen2_5_vl_qwen3_vllm.SERVED_ON_GPU
    with pytest.raises(UserError) as e:
        load_recipe(LOSSLESS, [override])
    message = str(e.value)
    assert "infer_backend: vllm cannot serve this recipe's model yet" in message
    assert "has not served on a GPU yet" in message and "Use infer_backend: transformers" in message


def test_vllm_stays_allowed_where_the_served_model_is_not_host_donor(tmp_path):
    assert load_recipe("qwen3-8b-vl").recipe.deploy.flags["infer_backend"] == "vllm"  # seed 000's host
    elsewhere = load_recipe(LOSSLESS, ["deploy.infer_backend=vllm", f"deploy.from={tmp_path}"]).recipe
    assert elsewhere.deploy.from_ == str(tmp_path)


def test_vllm_is_allowed_once_the_model_has_served(monkeypatch):
    monkeypatch.setattr(qwen2_5_vl_qwen3_vllm, "SERVED_ON_GPU", True)
    assert load_recipe(LOSSLESS, ["deploy.infer_backend=vllm"]).recipe.deploy.flags["infer_backend"] == "vllm"
