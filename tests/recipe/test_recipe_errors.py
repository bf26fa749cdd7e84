"""Malformed recipes: every problem, with its YAML path, in one clean message, exit 2."""
import pytest


def assert_clean_failure(result):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")


def test_unknown_key_names_its_path_and_line(cli, write_recipe):
    path = write_recipe("graft:\n  template: a/b\n  donor: c/d\n  merger: random\n")
    r = cli("validate", str(path))
    assert_clean_failure(r)
    assert f"{path}:4: graft.merger: unknown key" in r.stderr


def test_wrong_type(cli, write_recipe):
    path = write_recipe("graft:\n  template: a/b\n  donor: c/d\n  merger_init: sideways\n  seed: many\n")
    r = cli("validate", str(path))
    assert_clean_failure(r)
    assert "graft.merger_init" in r.stderr and "'random' or 'crop-copy'" in r.stderr
    assert "graft.seed" in r.stderr


def test_all_problems_reported_at_once(cli, write_recipe):
    path = write_recipe(
        "swift: {model_type: qwen2_5_vl, template: qwen2_5_vl}\n"
        "graft:\n  template: a/b\n  colour: red\n"
        "stage1:\n  train_type: full\n  learning_rat: 1.0e-4\n"
        "deploy:\n  port: http\n"
    )
    r = cli("validate", str(path))
    assert_clean_failure(r)
    assert "graft.donor: is required" in r.stderr
    assert "graft.colour: unknown key" in r.stderr
    assert "stage1.train_type: unknown ms-swift `swift sft` flag; did you mean tuner_type?" in r.stderr
    assert "stage1.learning_rat: unknown ms-swift `swift sft` flag; did you mean learning_rate?" in r.stderr
    assert "deploy.port" in r.stderr
    assert "has 5 problems" in r.stderr


def test_yaml_syntax_error_points_at_line(cli, write_recipe):
    path = write_recipe("graft:\n  template: a/b\n  donor: [c/d\nstage1: {}\n")
    r = cli("validate", str(path))
    assert_clean_failure(r)
    assert "YAML syntax error" in r.stderr and f"{path}:" in r.stderr


@pytest.mark.parametrize("text,word", [("- graft\n- stage1\n", "a list"), ("", "empty"), ("# only a comment\n", "empty"),
                                       ("just words\n", "a string")])
def test_document_must_be_a_mapping(cli, write_recipe, text, word):
    r = cli("validate", str(write_recipe(text)))
    assert_clean_failure(r)
    assert word in r.stderr and "mapping" in r.stderr


def test_stage2_without_stage1_or_init(cli, write_recipe):
    path = write_recipe("swift: {model_type: qwen2_5_vl, template: qwen2_5_vl}\nstage2:\n  learning_rate: 1.0e-5\n")
    r = cli("validate", str(path))
    assert_clean_failure(r)
    assert "stage2: has neither a stage1 section nor an init checkpoint" in r.stderr


@pytest.mark.parametrize("expr,expect", [
    ("stage1.learning_rate", "must look like section.key=value"),
    ("=3", "must look like section.key=value"),
    ("graft..donor=x", "must look like section.key=value"),
    ("graft.template.name=x", "graft.template: is a str, not a section"),
    ("graft.colour=red", "graft.colour: unknown key"),
    ("stage9.lr=1", "stage9: unknown key"),
])
def test_bad_override(cli, expr, expect):
    r = cli("validate", "qwen3-8b-vl", "--set", expr)
    assert_clean_failure(r)
    assert expect in r.stderr


def test_renamed_value_is_refused(cli, write_recipe):
    path = write_recipe("deploy:\n  from: /models/x\n  infer_backend: pt\n")
    r = cli("validate", str(path))
    assert_clean_failure(r)
    assert "deploy.infer_backend: 'pt' was renamed; use transformers" in r.stderr


def test_missing_recipe_lists_shipped(cli):
    r = cli("validate", "no-such-recipe")
    assert_clean_failure(r)
    assert "qwen3-8b-vl" in r.stderr


def test_unknown_verb_is_one_clean_line(cli):
    r = cli("frobnicate", "tiny")
    assert_clean_failure(r)
    assert "invalid choice" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_values_of_the_wrong_type_for_a_flag_are_named(cli, write_recipe):
    path = write_recipe(
        "swift: {model_type: qwen2_5_vl, template: qwen2_5_vl}\n"
        "stage1:\n  init: a/b\n  max_length: 8k\n  learning_rate: fast\n  freeze_vit: maybe\n"
        "  num_train_epochs: 2\n  per_device_train_batch_size: 2.0\n  warmup_ratio: 5e-2\n  1: 2\n"
    )
    r = cli("validate", str(path))
    assert_clean_failure(r)
    assert "stage1.max_length: must be a whole number (got '8k')" in r.stderr
    assert "stage1.learning_rate: must be a number (got 'fast')" in r.stderr
    assert "stage1.freeze_vit: must be true or false (got 'maybe')" in r.stderr
    assert "stage1.per_device_train_batch_size: must be a whole number (got 2.0)" in r.stderr
    assert "stage1.1: Keys should be strings" in r.stderr
    assert "num_train_epochs" not in r.stderr and "warmup_ratio" not in r.stderr
    assert "has 5 problems" in r.stderr


@pytest.mark.parametrize("stage,init,what", [("stage1", "stage1", "itself"), ("stage1", "best", "itself"),
                                             ("stage1", "stage2", "stage2, which runs after it")])
def test_a_stage_cannot_start_from_itself_or_a_later_stage(cli, write_recipe, stage, init, what):
    path = write_recipe("swift: {model_type: qwen2_5_vl, template: qwen2_5_vl}\n"
                        "graft: {template: a/b, donor: c/d}\n"
                        f"stage1: {{init: {init if stage == 'stage1' else 'graft'}}}\nstage2: {{}}\n")
    r = cli("validate", str(path))
    assert_clean_failure(r)
    assert f"stage1.init: {init} makes stage1 start from {what}" in r.stderr
