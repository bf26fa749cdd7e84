"""command.rehearsal for every shipped recipe: what changes on a CPU machine and on a GPU node, that every
change is listed, that the rehearsal recipe is a valid recipe writing only inside its own run directory."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from swiftplus.core import runs, stages
from swiftplus.core.errors import UserError
from swiftplus.doctor.known_models import CONFIGS as KNOWN
from swiftplus.doctor.probe import fixture_config
from swiftplus.fixtures import FIXTURES
from swiftplus.graft.families import FAMILIES
from swiftplus.pipeline.plan import plan
from swiftplus.recipe.load import load_recipe, shipped_recipes
from swiftplus.rehearse import command
from swiftplus.rehearse.cpu import CPU_ANSWER_TOKENS
from swiftplus.rehearse.rehearsal import CPU, MISSING, SCALE, Machine, render_substitutions

REHEARSABLE = sorted(shipped_recipes())
CPU_BOX = Machine(gpus=0, cpus=2, hub_reachable=False)
GPU_BOX = Machine(gpus=8, cpus=64, hub_reachable=False)
# Settings a GPU rehearsal must keep exactly as the recipe has them.
KEPT = ("attn_impl", "torch_dtype", "deepspeed", "per_device_train_batch_size", "gradient_accumulation_steps",
        "max_length", "freeze_vit", "freeze_llm", "freeze_aligner", "dataloader_num_workers", "dataset_num_proc",
        "gradient_checkpointing", "learning_rate", "env")


@pytest.fixture(autouse=True)
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the shipped recipes' run directories are relative


def rehearse(name: str, machine: Machine, environ: dict | None = None, sets=(), **kw) -> tuple:
    loaded = load_recipe(name, list(sets))
    work = (runs.rehearsal_work(loaded.recipe)).resolve()
    r = command.rehearsal(loaded.recipe, loaded.data, machine, environ or {}, work=work,
                          fixtures_root=Path("/fixtures"), **kw)
    return loaded, r


def load_rehearsal(r, tmp_path) -> object:
    path = tmp_path / "rehearsal.yaml"
    path.write_text(yaml.safe_dump(r.data, sort_keys=False))
    return load_recipe(str(path))


def walk(value, prefix=""):
    """(dotted key, leaf) pairs of a mapping."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, value


@pytest.mark.parametrize("name", REHEARSABLE)
@pytest.mark.parametrize("machine", [CPU_BOX, GPU_BOX], ids=["cpu", "gpu"])
def test_the_rehearsal_is_a_valid_recipe_that_writes_only_in_its_own_run(name, machine, tmp_path):
    loaded, r = rehearse(name, machine)
    rehearsal = load_rehearsal(r, tmp_path)  # schema, tool flags and stage wiring, as for any recipe
    assert Path(rehearsal.recipe.run_path()) == r.work == (tmp_path / "runs" / name / "rehearsal" / "work")
    real_root = Path(loaded.recipe.run_path()).resolve()
    for step in plan(rehearsal, environ={}):
        for flag in ("--output_dir", "--model"):
            if step.argv and flag in step.argv:
                value = Path(step.argv[step.argv.index(flag) + 1])
                if value.is_absolute() and real_root in value.parents:
                    assert r.work in value.parents, (step.stage, flag, value)
    if rehearsal.recipe.graft is not None:
        assert runs.stage_dir(rehearsal.recipe, stages.GRAFT) == r.work / "graft"
        assert rehearsal.recipe.graft.template.startswith("fixture:")
    for stage in stages.present(rehearsal.recipe, stages.TRAIN):
        assert getattr(rehearsal.recipe, stage).flags["max_steps"] == command.STEPS
    if rehearsal.recipe.eval is not None:
        assert rehearsal.recipe.eval.limit == command.EVAL_QUESTIONS and not rehearsal.recipe.eval.compare


@pytest.mark.parametrize("name", REHEARSABLE)
def test_a_gpu_rehearsal_keeps_every_setting_of_the_recipe(name):
    loaded, r = rehearse(name, GPU_BOX)
    assert not [s for s in r.substitutions if s.kind == CPU]
    real = loaded.data
    for section in ("swift", "env", "plugins"):
        assert r.data.get(section) == real.get(section)
    for stage in stages.present(loaded.recipe, stages.TRAIN):
        for key in KEPT:
            assert r.data[stage].get(key) == real[stage].get(key), (stage, key)
    if real.get("deploy"):
        assert r.data["deploy"] == real["deploy"]  # infer_backend, vLLM flags, port, env: all as the recipe says
    assert r.environ == {}


@pytest.mark.parametrize("name", REHEARSABLE)
def test_every_change_is_in_the_substitution_list(name):
    loaded, r = rehearse(name, CPU_BOX)
    before, after = dict(walk(loaded.data)), dict(walk(r.data))
    listed = " ".join(f"{s.where} " for s in r.substitutions)
    # datasets and eval sets are listed under their entry (stage1.dataset[0]), not each field of it
    exempt = ("run_dir", "base", "name")
    for key in sorted(set(before) | set(after)):
        if before.get(key) == after.get(key) or key.startswith(exempt):
            continue
        head = key.split(".")[0]
        second = ".".join(key.split(".")[:2])
        assert second in listed or (head in ("stage1", "stage2", "lora") and f"{second}[" in listed) \
            or (key.startswith("eval.") and "eval." in listed), (key, before.get(key), after.get(key))
    text = render_substitutions(r, name)
    for s in r.substitutions:
        assert f"{s.where}: {s.was} -> {s.now}" in text


def test_cpu_equivalents_for_seed_000(tmp_path):
    loaded, r = rehearse("qwen3-8b-vl", CPU_BOX)
    d = r.data
    assert d["swift"]["torch_dtype"] == "float32"
    for stage in ("stage1", "stage2"):
        assert d[stage]["attn_impl"] == "sdpa" and "deepspeed" not in d[stage]
        assert d[stage]["env"]["NPROC_PER_NODE"] == 2  # DeepSpeed: a launcher, one rank per GPU -> two CPU ranks
        assert d[stage]["ddp_backend"] == "gloo"
        assert d[stage]["per_device_train_batch_size"] == 2 and d[stage]["gradient_accumulation_steps"] == 8
    assert d["deploy"]["infer_backend"] == "transformers" and r.backend == "vllm"
    assert d["deploy"]["vllm_max_model_len"] == 8192  # still parsed by swift deploy
    missing = {s.where for s in r.not_rehearsed}
    assert {"stage1.dataset[0]", "stage1.deepspeed", "deploy.infer_backend", "eval.benchmarks"} <= missing
    # the hub dataset and MMMU are unreachable here: synthetic stand-ins in their formats
    formats = sorted(s.format for s in r.synthetic)
    assert formats == ["swift", "vmcq"]
    assert d["stage1"]["dataset"] == d["stage2"]["dataset"] == [{"path": r.synthetic[0].dest, "format": "swift"}]
    assert d["eval"]["local"][0]["kind"] == "vmcq" and d["eval"]["benchmarks"] == []


def test_cpu_ranks_stand_in_only_where_the_real_run_starts_a_launcher_on_any_node():
    _, r = rehearse("qwen3-smvl", CPU_BOX)  # no DeepSpeed, one node: one process wherever a single GPU serves
    assert "env" not in r.data["stage1"] and "ddp_backend" not in r.data["stage1"]
    _, r = rehearse("qwen3-8b-vl", Machine(gpus=0, cpus=1, hub_reachable=False))
    assert r.data["stage1"]["env"]["NPROC_PER_NODE"] == 1 and "ddp_backend" not in r.data["stage1"]
    _, r = rehearse("qwen3-8b-vl", Machine(gpus=0, cpus=64, hub_reachable=False))
    assert r.data["stage1"]["env"]["NPROC_PER_NODE"] == 2  # not 64: two ranks reach every collective
    _, r = rehearse("qwen3-8b-vl", CPU_BOX, {"NPROC_PER_NODE": "1"})  # the user's own count is kept
    assert "env" not in r.data["stage1"] and r.environ["NPROC_PER_NODE"] == "1"


def test_the_environment_launcher_variables_are_capped_on_cpu_and_kept_on_gpu():
    _, r = rehearse("qwen3-vl-2b-0.6b", CPU_BOX, {"NPROC_PER_NODE": "8", "NNODES": "2", "NODE_RANK": "1",
                                                 "MASTER_ADDR": "10.0.0.1"})
    assert r.environ == {"NPROC_PER_NODE": "2", "NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1"}
    assert r.data["stage1"]["ddp_backend"] == "gloo"
    _, r = rehearse("qwen3-vl-2b-0.6b", GPU_BOX, {"NPROC_PER_NODE": "8", "NNODES": "2", "NODE_RANK": "1",
                                                 "MASTER_ADDR": "10.0.0.1"})
    assert r.environ["NPROC_PER_NODE"] == "8" and "ddp_backend" not in r.data["stage1"]


def test_a_reachable_hub_is_sampled_not_replaced():
    _, r = rehearse("qwen3-8b-vl", Machine(gpus=0, cpus=2, hub_reachable=True))
    assert r.data["stage1"]["dataset"] == ["AI-ModelScope/LLaVA-Instruct-150K#16"]
    assert r.data["eval"]["benchmarks"] == ["mmmu"] and not r.synthetic
    assert "eval.benchmarks" not in {s.where for s in r.not_rehearsed}


def test_a_local_dataset_is_sampled_with_its_media_root(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "custom_llava_train.json").write_text("[]")
    _, r = rehearse("qwen3-vl-2b-0.6b", CPU_BOX)
    (sample,) = r.samples
    assert sample.source == "data/custom_llava_train.json" and sample.rows == command.SAMPLE_ROWS
    entry = r.data["stage1"]["dataset"][0]
    assert entry == {"path": sample.dest, "format": "llava", "data_root": "data"}
    assert r.data["stage2"]["dataset"][0] == entry  # one sample of a file both stages train on
    assert "stage1.dataset[0]" not in {s.where for s in r.not_rehearsed}


def test_a_missing_local_dataset_gets_a_stand_in_of_its_own_format():
    _, r = rehearse("qwen3-smvl", CPU_BOX)
    (syn,) = [s for s in r.synthetic if s.format != "vmcq"]
    assert syn.format == "cauldron"
    assert {"stage1.dataset[0]", "stage2.dataset[0]"} <= {s.where for s in r.not_rehearsed}


def test_models_are_fixtures_of_the_recipes_own_families():
    _, r = rehearse("qwen3-smvl", CPU_BOX)
    assert r.data["graft"]["template"] == "fixture:smolvlm2" and r.data["graft"]["donor"] == "fixture:qwen3-tied"
    assert r.data["plugins"] == ["smolvlm_qwen3"] and r.data["swift"]["model_type"] == "smolvlm_qwen3"
    _, r = rehearse("qwen3-8b-vl", CPU_BOX)
    assert r.data["graft"]["donor"] == "fixture:qwen3"  # Qwen3-8B does not tie its embeddings
    tied = {**KNOWN["Qwen/Qwen3-8B"], "tie_word_embeddings": True}  # a local donor's config decides
    _, r = rehearse("qwen3-8b-vl", CPU_BOX, config=lambda ref: tied if ref == "Qwen/Qwen3-8B" else KNOWN.get(ref))
    assert r.data["graft"]["donor"] == "fixture:qwen3-tied"
    _, r = rehearse("qwen2.5-vl-7b-lora", CPU_BOX)
    assert r.data["lora"]["init"] == str(Path("/fixtures/qwen2.5-vl"))
    assert r.fixtures == [("qwen2.5-vl", str(Path("/fixtures/qwen2.5-vl")))]


@pytest.mark.parametrize("name,template,donor", [
    ("qwen3-8b-vl-lossless", "qwen2.5-vl", "qwen3"),  # graft.host: donor kept: family qwen2_5_vl_qwen3
    ("qwen3-smvl-llava", "smolvlm2", "qwen3-tied"),  # graft.family: llava kept: a SmolVLM tower, llava_qwen3
    ("qwen3-8b-siglip", "siglip", "qwen3"),  # a SigLIP tower: the llava family, llava_qwen3
])
def test_the_new_graft_families_rehearse_on_fixtures_of_their_own_model_types(name, template, donor):
    loaded, r = rehearse(name, CPU_BOX)
    g = r.data["graft"]
    assert (g["template"], g["donor"]) == (f"fixture:{template}", f"fixture:{donor}")
    real = loaded.data["graft"]
    assert {k: g.get(k) for k in ("host", "family")} == {k: real.get(k) for k in ("host", "family")}
    assert fixture_config(template)["model_type"] == KNOWN[real["template"]]["model_type"]
    assert r.data["plugins"] == loaded.data["plugins"] and r.data["swift"] == loaded.data["swift"] | {
        "torch_dtype": "float32"}


def test_each_model_type_maps_to_a_fixture_of_that_model_type():
    for family in FAMILIES:
        for model_type, fixture in family.fixtures.items():
            assert fixture_config(fixture)["model_type"] == model_type, family.name
        if family.init_fixture:  # a checkpoint its ms-swift model type trains: one of the family's own model types
            assert fixture_config(family.init_fixture)["model_type"] in family.sizes, family.name
    for model_type, by_tying in command.DONOR_FIXTURES.items():
        for fixture in by_tying.values():
            assert fixture in FIXTURES and fixture_config(fixture)["model_type"] == model_type
    assert fixture_config(command.DONOR_FIXTURES["qwen3"][True])["tie_word_embeddings"] is True
    assert fixture_config(command.DONOR_FIXTURES["qwen3"][False])["tie_word_embeddings"] is False


def test_a_tower_whose_config_is_not_at_hand_is_refused_by_name_but_a_qwen_template_is_not():
    with pytest.raises(UserError, match="graft.template AI-ModelScope/siglip-so400m-patch14-384: its config.json is "
                                        "not at hand"):
        rehearse("qwen3-8b-siglip", CPU_BOX, config=lambda ref: None)
    _, r = rehearse("qwen3-8b-vl-lossless", CPU_BOX, config=lambda ref: None)  # its model type has one template
    assert (r.data["graft"]["template"], r.data["graft"]["donor"]) == ("fixture:qwen2.5-vl", "fixture:qwen3")
    _, r = rehearse("qwen3-smvl", CPU_BOX, config=lambda ref: None)  # the donor's size says it ties
    assert r.data["graft"]["donor"] == "fixture:qwen3-tied"


def test_graft_output_outside_the_run_never_receives_the_rehearsal(tmp_path):
    _, r = rehearse("qwen3-8b-vl", GPU_BOX, sets=[f"graft.output={tmp_path / 'big-disk' / 'graft'}"])
    assert "output" not in r.data["graft"]
    assert "graft.output" in {s.where for s in r.substitutions}


def test_the_tiny_recipe_generates_its_task_inside_the_rehearsal():
    _, r = rehearse("tiny", CPU_BOX)
    assert r.data["synthetic"]["train"] == command.SAMPLE_ROWS
    assert r.data["synthetic"]["evaluate"] == command.EVAL_QUESTIONS
    assert r.data["stage1"]["dataset"][0]["path"] == str(r.work / "task" / "train.jsonl")
    assert r.data["eval"]["local"][0]["path"] == str(r.work / "task" / "eval")
    assert not r.samples and not r.not_rehearsed
    assert [s.kind for s in r.substitutions if s.where.startswith("stage")] == [SCALE] * 4


def test_a_family_without_a_tiny_model_is_refused_by_name():
    with pytest.raises(UserError, match="no tiny model of ms-swift model_type 'internvl2_5'"):
        rehearse("qwen2-vl-2b-coco-lora", CPU_BOX, sets=["swift.model_type=internvl2_5"])
    _, r = rehearse("qwen2-vl-2b-coco-lora", CPU_BOX)  # Qwen2-VL's own fixture, once its family has one
    assert r.data["lora"]["init"] == str(Path("/fixtures/qwen2-vl"))
    assert fixture_config("qwen2-vl")["model_type"] == KNOWN["Qwen/Qwen2-VL-2B-Instruct"]["model_type"]


def test_cpu_answers_are_capped_but_gpu_answers_are_not():
    _, r = rehearse("qwen3-8b-vl", CPU_BOX)
    assert r.data["eval"]["generation_config"] == {"temperature": 0.6, "max_tokens": CPU_ANSWER_TOKENS}
    _, r = rehearse("qwen3-8b-vl", GPU_BOX)
    assert r.data["eval"]["generation_config"] == {"temperature": 0.6, "max_tokens": 512}
    assert MISSING in {s.kind for s in r.substitutions}  # MMMU offline is missing on any machine


def test_the_pure_command_reads_the_filesystem_only_through_exists(monkeypatch):
    seen = []
    loaded = load_recipe("qwen3-vl-2b-0.6b")
    command.rehearsal(loaded.recipe, loaded.data, CPU_BOX, {}, work=Path("/w"), fixtures_root=Path("/f"),
                      exists=lambda p: seen.append(p) or True)
    assert seen == ["data/custom_llava_train.json"] and os.getcwd()
