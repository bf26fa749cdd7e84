"""Shipped recipes say what they need: no GPU count of their own, bounded checkpoints, and the disk their
header states is what the doctor estimates."""
import re

import pytest

from swiftplus.core import stages
from swiftplus.doctor import estimate as est
from swiftplus.doctor import needs, probe
from swiftplus.doctor.run import run_stages, stage_needs
from swiftplus.recipe.load import load_recipe, shipped_recipes

RECIPES = sorted(shipped_recipes())


@pytest.mark.parametrize("name", RECIPES)
def test_no_recipe_hard_codes_a_gpu_count(name):
    recipe = load_recipe(name).recipe
    for stage in stages.present(recipe, stages.TRAIN):
        assert "NPROC_PER_NODE" not in {**recipe.env, **getattr(recipe, stage).env}, stage


@pytest.mark.parametrize("name", RECIPES)
def test_every_training_stage_bounds_its_checkpoints(name):
    recipe = load_recipe(name).recipe
    for stage in stages.present(recipe, stages.TRAIN):
        flags = needs.stage_flags(recipe, stage)
        assert est.kept_checkpoints(flags.get("save_total_limit"), flags.get("max_steps"), flags.get("save_steps"))


@pytest.mark.parametrize("name", RECIPES)
def test_the_header_states_the_disk_the_doctor_estimates(name, tmp_path):
    loaded = load_recipe(name)
    header = loaded.path.read_text().split("\n\n")[0]
    stated = re.search(r"^# Disk:\s+~([\d.]+) GB", header, flags=re.M)
    assert stated, "the header has a `# Disk:  ~N GB` line"
    recipe, env = loaded.recipe, {"MODELSCOPE_CACHE": str(tmp_path / "ms"), "HF_HOME": str(tmp_path / "hf")}
    lookup = probe.lookup_for(recipe.hub, env)
    wanted = sorted(set(stages.present(recipe)) | set(run_stages(recipe)), key=stages.ORDER.index)
    found = [stage_needs(recipe, stage, lookup, env, 0, None) for stage in wanted]
    total = sum({d.key: d.bytes for n in found for d in n.disk}.values()) / est.GB
    assert float(stated.group(1)) == pytest.approx(total, rel=0.1)
