"""graft.donor_swift, graft.also_into and each benchmark's `sources`: what the donor and the host grafts are served
with, and who is asked what; every mistake named with its path before anything runs."""
import pytest

from swiftplus.core.errors import UserError
from swiftplus.recipe.load import load_recipe

BASE = """swift: {model_type: qwen3_vl, template: qwen3_vl}
graft:
  template: fixture:qwen3-vl
  donor: fixture:qwen3-colours
  donor_swift: {model_type: qwen3, template: qwen3}
  also_into:
    - {name: h25, template: fixture:qwen2.5-vl, swift: {model_type: qwen2_5_vl, template: qwen2_5_vl}}
eval:
  local:
    - {name: text, path: data, subsets: [text], sources: [donor, graft, graft-h25]}
    - {name: shapes, path: data, sources: [graft]}
  compare: [donor, graft, graft-h25]
"""


def problems(write_recipe, text: str) -> str:
    with pytest.raises(UserError) as e:
        load_recipe(str(write_recipe(text)))
    return str(e.value)


def test_a_recipe_with_a_donor_and_a_host_validates(write_recipe):
    recipe = load_recipe(str(write_recipe(BASE))).recipe
    assert recipe.graft.donor_swift == {"model_type": "qwen3", "template": "qwen3"}
    (host,) = recipe.graft.also_into
    assert host.name == "h25" and host.swift["template"] == "qwen2_5_vl" and host.allow_dropped == []
    assert recipe.eval.local[0].sources == ["donor", "graft", "graft-h25"]


def test_serving_flags_must_name_model_type_and_template(write_recipe):
    out = problems(write_recipe, BASE.replace("donor_swift: {model_type: qwen3, template: qwen3}",
                                              "donor_swift: {model_type: qwen3}")
                   .replace("swift: {model_type: qwen2_5_vl, template: qwen2_5_vl}", "swift: {}"))
    assert "graft.donor_swift" in out and "missing template" in out
    assert "graft.also_into.0.swift" in out and "model_type and template" in out


def test_serving_flags_are_checked_against_swift_deploy(write_recipe):
    out = problems(write_recipe, BASE.replace("donor_swift: {model_type: qwen3, template: qwen3}",
                                              "donor_swift: {model_type: qwen3, template: qwen3, max_lenght: 9}"))
    assert "graft.donor_swift.max_lenght: unknown ms-swift `swift deploy` flag; did you mean max_length?" in out


@pytest.mark.parametrize("name", ["a b", "../up", "h/25", ""])
def test_host_names_are_file_safe(write_recipe, name):
    assert "graft.also_into.0.name" in problems(write_recipe, BASE.replace("name: h25", f"name: '{name}'"))


def test_a_host_is_named_once(write_recipe):
    text = BASE.replace("    - {name: h25", "    - {name: h25, template: x/y, swift: {model_type: a, template: b}}\n"
                                           "    - {name: h25")
    assert "also_into: h25 named more than once" in problems(write_recipe, text)


def test_sources_must_be_checkpoints_of_the_recipe(write_recipe):
    out = problems(write_recipe, BASE.replace("sources: [graft]}", "sources: [stage1, graft-h3]}")
                   .replace("compare: [donor, graft, graft-h25]", "compare: [donor, graft, graft-h25, graft-x]"))
    assert "eval.local.1.sources.0: 'stage1' is not a checkpoint of this recipe " \
           "(it has: graft, donor, graft-h25)" in out
    assert "eval.local.1.sources.1: 'graft-h3' is not a checkpoint" in out
    assert "eval.compare.3: refers to graft-x, but graft.also_into names only h25" in out


def test_the_donor_is_asked_only_what_the_recipe_says(write_recipe):
    out = problems(write_recipe, BASE.replace(", sources: [graft]}", "}"))
    assert "eval.local.1: needs `sources`: eval.compare has donor" in out


def test_a_compared_checkpoint_must_be_asked_something(write_recipe):
    out = problems(write_recipe, BASE.replace("sources: [donor, graft, graft-h25]", "sources: [donor, graft]"))
    assert "eval.compare.2: graft-h25 is asked no benchmark" in out


def test_serving_the_donor_needs_its_swift_type(write_recipe):
    out = problems(write_recipe, BASE.replace("  donor_swift: {model_type: qwen3, template: qwen3}\n", ""))
    assert "graft.donor_swift: is needed to serve the donor alone" in out
    assert "deploy.from: refers to donor, but the recipe has no graft section" in problems(
        write_recipe, "deploy: {from: donor}\n")


def test_the_demo_asks_in_the_prompt_its_donor_was_taught():
    from swiftplus.fixtures.colour_lesson import PROMPT_TEMPLATE

    recipe = load_recipe("tiny").recipe
    assert recipe.graft.donor == "fixture:qwen3-colours"
    assert recipe.synthetic.prompt_template == PROMPT_TEMPLATE
    assert all(local.args["prompt_template"] == PROMPT_TEMPLATE for local in recipe.eval.local)
