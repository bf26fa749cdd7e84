"""A family is one module and one registry line: a throwaway family defined and registered only here (a renamed
Qwen2.5-VL for a made-up model type, on the Qwen2.5-VL fixture) is chosen by the graft, estimated by the doctor,
rehearsed on its own fixture and refused for vLLM with its own reason by validate and by serve, without any other
module knowing it. The registry's own promises are checked too."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from swiftplus.core import stages
from swiftplus.core.errors import UserError
from swiftplus.doctor import estimate as est
from swiftplus.doctor.known_models import CONFIGS
from swiftplus.doctor.models import ModelInfo, model_for
from swiftplus.doctor.probe import fixture_config
from swiftplus.graft.families import FAMILIES, Serving, family_for, grafting, registered, serving, sizing
from swiftplus.graft.families.qwen2_5_vl import Qwen2_5_VL
from swiftplus.recipe.load import load_recipe
from swiftplus.rehearse import command
from swiftplus.rehearse.rehearsal import Machine
from swiftplus.serve import backends

REASON = "the throwaway decoder has no vLLM implementation; serve it with deploy.infer_backend: transformers"
TEMPLATE, DONOR = "acme/Throwaway-VL-7B", "Qwen/Qwen3-8B"


class Throwaway(Qwen2_5_VL):
    name = "throwaway"
    template_model_types = sizes = ("throwaway_vl",)
    architecture = "ThrowawayVLForConditionalGeneration"
    swift_model_type = swift_template = "throwaway_vl"
    fixtures = {"throwaway_vl": "qwen2.5-vl"}  # a fixture of the architecture it renames
    init_fixture = "qwen2.5-vl"
    serving = Serving((architecture,), ("transformers",), refused={"vllm": REASON})


@pytest.fixture
def throwaway():
    with registered(Throwaway()) as family:
        yield family
    assert family not in FAMILIES


def template_config() -> dict:
    return {**fixture_config("qwen2.5-vl"), "model_type": "throwaway_vl",
            "architectures": [Throwaway.architecture]}


def configs(ref) -> dict | None:
    return {TEMPLATE: template_config(), DONOR: CONFIGS[DONOR]}.get(str(ref))


def write(tmp_path: Path, sections: str, name: str = "throwaway.yaml") -> Path:
    path = tmp_path / name
    path.write_text("swift: {model_type: throwaway_vl, template: throwaway_vl}\n" + sections)
    return path


GRAFTED = f"graft: {{template: {TEMPLATE}, donor: {DONOR}}}\nstage1: {{dataset: [x.jsonl]}}\n"
LORA = f"lora: {{init: {TEMPLATE}, dataset: [x.jsonl]}}\n"


def test_the_graft_picks_it_by_its_template_model_type(throwaway):
    assert family_for(template_config()) is throwaway
    with pytest.raises(UserError, match="throwaway_vl"):
        family_for(template_config(), name="qwen2_5_vl")  # the other families do not take it


def test_the_doctor_estimates_a_recipe_using_it(throwaway, tmp_path):
    recipe = load_recipe(str(write(tmp_path, GRAFTED))).recipe
    model = model_for(recipe, stages.GRAFT, lambda ref: ModelInfo(str(ref), configs(ref), "known table"))
    renamed = est.grafted_params(fixture_config("qwen2.5-vl"), CONFIGS[DONOR], "qwen2_5_vl")
    assert model is not None and model.params == renamed  # the same architecture under another name
    assert est.model_params(template_config()) == est.model_params(fixture_config("qwen2.5-vl"))
    assert sizing(template_config()) is throwaway


def test_the_rehearsal_stands_its_fixture_in(throwaway, tmp_path):
    for sections, key in ((GRAFTED, ("graft", "template")), (LORA, ("lora", "init"))):
        loaded = load_recipe(str(write(tmp_path, sections)))
        r = command.rehearsal(loaded.recipe, loaded.data, Machine(gpus=0, cpus=2, hub_reachable=False), {},
                              work=tmp_path / "work", fixtures_root=Path("/fixtures"), config=configs)
        expected = "fixture:qwen2.5-vl" if key[0] == "graft" else str(Path("/fixtures/qwen2.5-vl"))
        assert r.data[key[0]][key[1]] == expected


def test_validate_and_serve_refuse_vllm_with_its_own_reason(throwaway, tmp_path):
    path = write(tmp_path, GRAFTED + "deploy: {infer_backend: vllm}\n")
    with pytest.raises(UserError) as e:
        load_recipe(str(path))
    assert f"deploy.infer_backend: vllm cannot serve model_type throwaway_vl: {REASON}" in str(e.value)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({"architectures": [Throwaway.architecture]}))
    with pytest.raises(UserError) as e:
        backends.check_backend_serves("vllm", tmp_path / "ckpt")
    assert f"vllm cannot serve {Throwaway.architecture}: {REASON} (backends that can: transformers)" in str(e.value)
    backends.check_backend_serves("transformers", tmp_path / "ckpt")


def test_unregistered_nothing_knows_it(tmp_path):
    assert load_recipe(str(write(tmp_path, GRAFTED + "deploy: {infer_backend: vllm}\n"))).recipe  # not refused
    assert sizing(template_config()) is None and serving(Throwaway.architecture) is None
    with pytest.raises(UserError, match="not a template family swiftplus can graft into"):
        family_for(template_config())


def test_the_registry_holds_one_family_per_name_model_type_and_architecture():
    def unique(values):
        values = list(values)
        return len(values) == len(set(values))

    assert unique(f.name for f in FAMILIES)
    assert unique(t for f in FAMILIES for t in f.swift_types())
    assert unique(t for f in FAMILIES for t in f.sizes)
    assert unique(a for f in FAMILIES for a in f.serving.architectures)
    for family in FAMILIES:
        assert family.swift_types(), family.name  # every family is trained and served as something
        assert family.serving.architectures and family.architecture in family.serving.architectures
        assert set(family.fixtures) <= set(family.template_model_types), family.name
    assert {f.name for f in FAMILIES} - {f.name for f in grafting()} == {"qwen2_vl"}  # only trained and served


def test_a_process_that_imports_only_recipe_loading_still_asks_the_families():
    """core/families loads its owner on first use: loading a recipe alone (no graft import) still refuses vLLM for
    the SmolVLM family, with the family's reason."""
    import subprocess
    import sys

    from tests.helpers import REPO

    code = ("import sys\nfrom swiftplus.core.errors import UserError\nfrom swiftplus.recipe.load import load_recipe\n"
            "try:\n    load_recipe('qwen3-smvl', ['deploy.infer_backend=vllm'])\nexcept UserError as e:\n"
            "    print(e)\nassert 'swiftplus.graft.families' in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "vllm cannot serve model_type smolvlm_qwen3" in out.stdout and "Llama decoder" in out.stdout
