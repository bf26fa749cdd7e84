"""Hostile recipes: a YAML alias bomb, a recursive alias or absurd nesting is one clear error at once, while anchors,
aliases and merge keys stay legal (the shipped recipes use them)."""
import pytest

from swiftplus.core.errors import UserError
from swiftplus.recipe import bounded_yaml
from swiftplus.recipe.load import load_recipe

# Nine nested aliases of nine: ~400 bytes that expand to 9**9 strings. Line 6 is the first value past 100,000 nodes.
BOMB = "".join(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
               for prev, name in zip([None, *"abcdefgh"], "abcdefghi"))


@pytest.mark.timeout(30)  # without the bound, validate ran past 60 s; with it, a fraction of a second
def test_a_billion_laughs_is_refused_before_anything_walks_it(cli, write_recipe):
    assert len(BOMB) < 500
    path = write_recipe(BOMB)
    r = cli("validate", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"error: {path}:6: this value expands to more than 100,000 YAML nodes") and "aliases" in line


@pytest.mark.timeout(30)
def test_an_alias_bomb_in_an_override_is_refused_too():
    flow = "[" + ", ".join(f"&{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]"
                           for prev, name in zip([None, *"abcdefgh"], "abcdefghi")) + "]"
    with pytest.raises(UserError, match=r"^--set stage1\.x=\[&a .*: this value expands to more than 100,000"):
        load_recipe("tiny", [f"stage1.x={flow}"])
    with pytest.raises(UserError, match=r"^--set stage1\.x=&a \[1, \*a\]: this value holds an alias"):
        load_recipe("tiny", ["stage1.x=&a [1, *a]"])


def test_a_recursive_alias_is_refused(write_recipe):
    path = write_recipe("swift: &s {model_type: qwen2_5_vl, again: *s}\n")
    with pytest.raises(UserError, match=rf"^{path}:1: this value holds an alias \(\*name\) of itself"):
        load_recipe(str(path))


def test_nesting_too_deep_to_follow_is_refused(write_recipe):
    path = write_recipe("swift: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(UserError, match="nested too deeply"):
        load_recipe(str(path))


def test_the_bound_counts_each_alias_every_time_it_is_used():
    data, _ = bounded_yaml.parse(BOMB.split("e:")[0], "r.yaml")  # a..d: 7,381 nodes once expanded
    assert len(data["d"]) == 9 and data["d"][0][0][0] == ["lol"] * 9
    with pytest.raises(UserError, match="more than 10,000,000 characters"):
        bounded_yaml.parse("s: &s " + "x" * 10_000 + "\nl: [" + ", ".join(["*s"] * 1001) + "]\n", "r.yaml")


def test_anchors_aliases_and_merge_keys_stay_legal(write_recipe):
    path = write_recipe("""
swift: {model_type: qwen2_5_vl, template: qwen2_5_vl}
stage1: &train
  init: Qwen/Qwen2.5-VL-7B-Instruct
  dataset: &data [AI-ModelScope/LLaVA-Instruct-150K]
  learning_rate: 1.0e-4
stage2:
  <<: *train
  dataset: *data
  learning_rate: 1.0e-5
""")
    loaded = load_recipe(str(path))
    assert loaded.data["stage2"]["init"] == "Qwen/Qwen2.5-VL-7B-Instruct" and loaded.data["stage2"]["learning_rate"] == 1e-5
