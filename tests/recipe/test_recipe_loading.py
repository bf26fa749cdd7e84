"""Inheritance, overrides and name resolution."""
import pytest

from swiftplus.core.errors import UserError
from swiftplus.recipe.load import apply_override, deep_merge, load_recipe


def test_override_values_are_yaml_typed():
    data = {}
    problems = []
    for expr in ["stage1.learning_rate=2e-5", "stage1.freeze_vit=false", "stage1.dataset=[a, b]", "stage1.save_steps=50"]:
        apply_override(data, expr, problems)
    assert not problems
    assert data["stage1"]["freeze_vit"] is False
    assert data["stage1"]["dataset"] == ["a", "b"]
    assert data["stage1"]["save_steps"] == 50


def test_set_reaches_the_stage_flags():
    loaded = load_recipe("qwen3-8b-vl", ["stage1.learning_rate=2.0e-5", "stage2.save_steps=7"])
    assert loaded.recipe.stage1.flags["learning_rate"] == 2e-5
    assert loaded.recipe.stage2.flags["save_steps"] == 7
    assert loaded.recipe.stage2.flags["learning_rate"] == 5e-6  # the anchor copy is independent


def test_base_inherits_and_child_wins(write_recipe, tmp_path):
    write_recipe("swift: {model_type: qwen2_5_vl, template: qwen2_5_vl}\n"
                 "graft: {template: a/b, donor: c/d}\nstage1: {learning_rate: 1.0e-4, save_steps: 10}\n", "parent.yaml")
    child = write_recipe("base: parent\nstage1: {learning_rate: 3.0e-4}\n", "child.yaml")
    loaded = load_recipe(str(child))
    assert loaded.recipe.name == "child"
    assert loaded.recipe.stage1.flags == {"learning_rate": 3e-4, "save_steps": 10}
    assert loaded.recipe.graft.donor == "c/d"
    assert [p.name for p in loaded.files] == ["child.yaml", "parent.yaml"]


def test_base_of_a_shipped_recipe(write_recipe):
    child = write_recipe("base: qwen3-8b-vl\ngraft: {donor: Qwen/Qwen3-4B}\n")
    loaded = load_recipe(str(child))
    assert loaded.recipe.graft.template == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert loaded.recipe.graft.donor == "Qwen/Qwen3-4B"
    assert loaded.recipe.run_path() == "runs/r"


def test_inheritance_cycle_is_refused(write_recipe):
    write_recipe("base: b\n", "a.yaml")
    b = write_recipe("base: a\n", "b.yaml")
    with pytest.raises(UserError, match="cycle"):
        load_recipe(str(b))


def test_deep_merge_replaces_lists():
    assert deep_merge({"a": {"x": [1, 2], "y": 1}}, {"a": {"x": [3]}}) == {"a": {"x": [3], "y": 1}}


def test_error_line_comes_from_the_file_that_has_the_key(write_recipe):
    write_recipe("graft: {template: a/b, donor: c/d}\n", "p.yaml")
    child = write_recipe("base: p\n\n\nstage1:\n  lerning_rate: 1\n", "c.yaml")
    with pytest.raises(UserError) as e:
        load_recipe(str(child))
    assert "c.yaml:5: stage1.lerning_rate" in str(e.value)
