"""What each stage of a recipe needs, sized from configs found the way the probe finds them."""
import json

import pytest

from swiftplus.core import runs
from swiftplus.core.errors import UserError
from swiftplus.doctor import estimate as est
from swiftplus.doctor import models, needs, probe
from swiftplus.doctor.known_models import CONFIGS, DATASET_BYTES
from swiftplus.doctor.run import check_shared_run_dir, run_stages
from swiftplus.recipe.load import load_recipe
from swiftplus.train.topology import Topology, topology_for
from tests.helpers import write_safetensors


@pytest.fixture
def env(tmp_path):
    """Empty hub caches: every hub model is still to be downloaded."""
    return {"MODELSCOPE_CACHE": str(tmp_path / "ms"), "HF_HOME": str(tmp_path / "hf")}


def stage(name, stage_name, env, gpus=8):
    recipe = load_recipe(name).recipe
    lookup = probe.lookup_for(recipe.hub, env)
    topo = topology_for(recipe, stage_name, {}, gpus)
    return recipe, needs.train_needs(recipe, stage_name, topo, lookup, probe.modelscope_cache(env), {})


def test_stage1_trains_the_aligner_stage2_everything(env):
    grafted = est.grafted_params(CONFIGS["Qwen/Qwen2.5-VL-7B-Instruct"], CONFIGS["Qwen/Qwen3-8B"])
    _, one = stage("qwen3-8b-vl", "stage1", env)
    _, two = stage("qwen3-8b-vl", "stage2", env)
    assert one.topology.nproc_per_node == 8 and one.topology.nproc_defaulted  # the recipe sets no GPU count
    assert one.memory["optimizer"] == pytest.approx(12 * grafted.aligner / 8)  # ZeRO-2 over 8 processes
    assert two.memory["optimizer"] == pytest.approx(12 * grafted.total / 8)
    assert two.memory["weights"] == pytest.approx(2 * grafted.total)
    assert {p.module for p in one.packages} == {"flash_attn", "deepspeed"}
    assert one.gpu_required == "DeepSpeed zero2 and attn_impl flash_attn"


def test_checkpoints_times_what_save_total_limit_keeps(env):
    recipe, two = stage("qwen3-8b-vl", "stage2", env)
    (ckpt,) = [d for d in two.disk if d.key == "checkpoints:stage2"]
    grafted = est.grafted_params(CONFIGS["Qwen/Qwen2.5-VL-7B-Instruct"], CONFIGS["Qwen/Qwen3-8B"]).total
    assert ckpt.bytes == pytest.approx(3 * (2 + 2 + 12) * grafted)  # limit 2, +1 while the next is written
    assert ckpt.path == runs.output_dir(recipe, "stage2")


def test_hub_datasets_are_an_allowance_in_the_hub_cache(env, tmp_path):
    _, one = stage("qwen3-8b-vl", "stage1", env)
    (data,) = [d for d in one.disk if d.key.startswith("dataset:")]
    assert data.bytes == DATASET_BYTES["AI-ModelScope/LLaVA-Instruct-150K"] and data.path == tmp_path / "ms"


def test_an_unbounded_save_count_is_named(env, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("swift: {model_type: qwen3_vl, template: qwen3_vl}\n"
                    "lora: {init: Qwen/Qwen3-VL-2B-Instruct, dataset: [d.jsonl], save_steps: 100}\n")
    recipe = load_recipe(str(path)).recipe
    found = needs.train_needs(recipe, "lora", Topology(), probe.lookup_for("modelscope", env), tmp_path, {})
    assert any("save_total_limit unset" in n for n in found.notes)
    rank8 = est.lora_params(CONFIGS["Qwen/Qwen3-VL-2B-Instruct"], 8, "all-linear")
    assert found.memory["optimizer"] == 2 * 2 * rank8  # plain AdamW, bf16 moments
    (download,) = [d for d in found.disk if d.key == "download:Qwen/Qwen3-VL-2B-Instruct"]
    assert download.bytes == 2 * est.model_params(CONFIGS["Qwen/Qwen3-VL-2B-Instruct"]).total


def test_the_largest_image_sizes_the_vision_activations(env):
    recipe = load_recipe("qwen3-8b-vl").recipe
    model = models.model_for(recipe, "stage2", probe.lookup_for("modelscope", env))
    flags = needs.stage_flags(recipe, "stage2")
    # MAX_PIXELS 1003520 allows 1280 tokens of 28x28: a large square image resizes to 35 x 35 of them (+ 2
    # markers); each token merges 2x2 patches of 14x14
    assert needs.image_patches(flags, {"MAX_PIXELS": "1003520"}, model) == (35 * 35 + 2) * 4


def test_the_doctor_sizes_the_family_the_recipe_grafts_with(env):
    # qwen3-smvl and qwen3-smvl-llava graft the same pair; graft.family: llava swaps the connector for LLaVA's
    # projector, and the picked family decides every stage's size
    lookup = probe.lookup_for("modelscope", env)
    smolvlm, qwen3 = CONFIGS["HuggingFaceTB/SmolVLM2-256M-Video-Instruct"], CONFIGS["Qwen/Qwen3-0.6B"]
    for name, family in (("qwen3-smvl", "smolvlm"), ("qwen3-smvl-llava", "llava")):
        model = models.model_for(load_recipe(name).recipe, "stage2", lookup)
        assert model.params == est.grafted_params(smolvlm, qwen3, family), name
    llava = models.model_for(load_recipe("qwen3-smvl-llava").recipe, "stage1", lookup)
    assert llava.params.aligner == (768 + 1) * 1024 + (1024 + 1) * 1024


def test_a_fixed_resolution_tower_sizes_the_vision_activations_without_a_template_rule(env):
    recipe = load_recipe("qwen3-8b-siglip").recipe  # template llava_qwen3 has no rule in data/budget.py
    model = models.model_for(recipe, "stage1", probe.lookup_for("modelscope", env))
    assert needs.image_patches(needs.stage_flags(recipe, "stage1"), {}, model) == 27 * 27
    _, one = stage("qwen3-8b-siglip", "stage1", env)
    assert not any("no image-token rule" in n for n in one.notes)
    assert one.memory["optimizer"] == pytest.approx(12 * model.params.aligner / 8)


def test_the_graft_output_keeps_the_tower_in_the_template_s_dtype(env):
    recipe = load_recipe("qwen3-8b-siglip").recipe  # SigLIP's hub weights are float32, Qwen3-8B's bfloat16
    found = needs.graft_needs(recipe, probe.lookup_for("modelscope", env))
    (out,) = [d for d in found.disk if d.key == "graft"]
    p = est.grafted_params(CONFIGS["AI-ModelScope/siglip-so400m-patch14-384"], CONFIGS["Qwen/Qwen3-8B"], "llava")
    assert out.bytes == 4 * p.vision + 2 * (p.aligner + p.llm)
    (siglip,) = [d for d in found.disk if d.key == "download:AI-ModelScope/siglip-so400m-patch14-384"]
    assert siglip.bytes == 4 * est.model_params(CONFIGS["AI-ModelScope/siglip-so400m-patch14-384"]).total


def test_deploy_needs_vllm_and_a_gpu_share(env):
    recipe = load_recipe("qwen3-8b-vl").recipe
    found = needs.deploy_needs(recipe, probe.lookup_for("modelscope", env))
    assert [p.module for p in found.packages] == ["vllm"] and found.gpu_required == "infer_backend vllm"
    assert found.memory_limit == 0.9 and "deploy.infer_backend=transformers" in found.packages[0].instead


def test_export_needs_room_for_the_merged_model(env):
    recipe = load_recipe("qwen2.5-vl-7b-lora").recipe
    (merged,) = needs.export_needs(recipe, probe.lookup_for("modelscope", env)).disk
    assert merged.bytes == 2 * est.model_params(CONFIGS["Qwen/Qwen2.5-VL-7B-Instruct"]).total


def test_run_reaches_the_endpoint_its_evaluation_starts():
    assert run_stages(load_recipe("qwen3-8b-vl").recipe) == ["graft", "stage1", "stage2", "deploy", "eval"]
    assert "deploy" not in run_stages(load_recipe("qwen2.5-vl-7b-lora").recipe)  # no eval: run never serves


@pytest.mark.parametrize("entry,name", [("AI-ModelScope/LLaVA-Instruct-150K#2000", "AI-ModelScope/LLaVA-Instruct-150K"),
                                        ("swift/lnqa:train", "swift/lnqa"), ("data/train.jsonl", None)])
def test_hub_dataset_names(entry, name):
    assert needs.hub_dataset(entry) == name


def test_the_probe_finds_models_where_they_are(tmp_path, env):
    local = tmp_path / "model"
    local.mkdir()
    (local / "config.json").write_text(json.dumps(CONFIGS["Qwen/Qwen3-0.6B"]))
    write_safetensors(local / "model.safetensors")
    assert probe.model_info(str(local), "modelscope", env).source == "local"
    cached = tmp_path / "ms" / "models" / "Qwen" / "Qwen3-8B"
    cached.mkdir(parents=True)
    (cached / "config.json").write_text(json.dumps(CONFIGS["Qwen/Qwen3-8B"]))
    write_safetensors(cached / "model-00001-of-00002.safetensors")
    hit = probe.model_info("Qwen/Qwen3-8B", "modelscope", env)
    assert hit.source == "hub cache" and hit.download is None  # nothing left to download
    known = probe.model_info("Qwen/Qwen3-0.6B", "hf", env)
    assert known.source == "known table" and known.download == tmp_path / "hf" / "hub"
    unknown = probe.model_info("Org/Unknown-7B", "modelscope", env)
    assert unknown.config is None and unknown.download == tmp_path / "ms"
    assert probe.model_info("fixture:qwen3", "modelscope", env).config["model_type"] == "qwen3"
    assert probe.model_info(tmp_path / "runs" / "org" / "graft", "modelscope", env).source == "not there yet"


def test_node_0_marks_the_run_directory_and_the_others_must_see_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe("qwen3-8b-vl").recipe
    topo = dict(nnodes=2, master_addr="10.0.0.1", master_port=29500)
    clock = iter(range(0, 10_000, 2)).__next__
    check_shared_run_dir(recipe, ["stage1"], Topology(node_rank=0, **topo), {}, clock=clock)
    check_shared_run_dir(recipe, ["stage1"], Topology(node_rank=1, **topo), {}, sleep=lambda s: None, clock=clock)
    with pytest.raises(UserError, match="not on a filesystem all 2 nodes share"):  # another job: no marker
        check_shared_run_dir(recipe, ["stage1"], Topology(node_rank=1, **{**topo, "master_port": 29501}),
                             {"SWIFTPLUS_SHARED_TIMEOUT": "10"}, sleep=lambda s: None, clock=clock)
