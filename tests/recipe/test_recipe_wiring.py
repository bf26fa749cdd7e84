"""Values that must name something (a stage, a preset, a tuner, a server that can load the family) are checked
at validate, and YAML's silent "last key wins" is an error."""
from __future__ import annotations

import pytest

from swiftplus.core.errors import UserError
from swiftplus.recipe.load import load_recipe

BASE = """
swift: {model_type: qwen2_5_vl, template: qwen2_5_vl}
graft: {template: a/b, donor: c/d}
stage1: {dataset: [x.jsonl]}
stage2: {dataset: [x.jsonl]}
"""


def problems(tmp_path, text: str, overrides=()) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as e:
        load_recipe(str(path), list(overrides))
    return str(e.value)


def ok(tmp_path, text: str, overrides=()):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return load_recipe(str(path), list(overrides)).recipe


def test_a_key_given_twice_is_an_error_with_both_lines(tmp_path):
    msg = problems(tmp_path, BASE + "deploy:\n  port: 8001\n  infer_backend: transformers\n  port: 8002\n")
    assert "deploy.port: is given twice (lines 7 and 9)" in msg and ":9:" in msg


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    ok(tmp_path, BASE.replace("stage2: {dataset: [x.jsonl]}", "stage2:\n  <<: {dataset: [x.jsonl]}\n  seed: 1\n"))


@pytest.mark.parametrize("override, where, words", [
    ("stage2.init=stage3", "stage2.init", "neither a stage"),
    ("stage2.init=graf", "stage2.init", "did you mean graft?"),
    ("deploy.from=stage3", "deploy.from", "neither a stage"),
    ("deploy.from=eval", "deploy.from", "cannot be used here"),
    ("eval.compare=[graft, stag1]", "eval.compare.1", "did you mean stage1?"),
    ("eval.compare=[lora]", "eval.compare.0", "has no lora section"),
    ("export.from=stage9", "export.from", "neither a stage"),
    ("stage1.tuner_type=ful", "stage1.tuner_type", "must be one of ms-swift's tuners"),
    ("stage1.deepspeed=zero4", "stage1.deepspeed", "zero2_offload"),
    ("stage1.attn_impl=flash", "stage1.attn_impl", "flash_attention_2"),
    ("deploy.infer_backend=vlm", "deploy.infer_backend", "must be one of"),
])
def test_values_that_must_name_something_are_checked(tmp_path, override, where, words):
    text = BASE + "deploy: {infer_backend: transformers}\neval: {benchmarks: [mmmu]}\n"
    if override.startswith("export."):
        text = text.replace("stage2: {dataset: [x.jsonl]}", "lora: {dataset: [x.jsonl]}") + "export: {}\n"
    msg = problems(tmp_path, text, [override])
    assert f"{where}: " in msg and words in msg, msg


def test_real_presets_paths_and_hub_ids_pass(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    ok(tmp_path, BASE, ["stage1.deepspeed=zero3_offload", "stage1.tuner_type=full", "stage1.attn_impl=sdpa",
                        "stage2.init=Org/Model", f"eval.compare=[graft, {model}]", "eval.benchmarks=[mmmu]"])


def test_eval_steps_minus_one_is_not_never(tmp_path):
    msg = problems(tmp_path, BASE, ["stage1.eval_steps=-1", "stage1.split_dataset_ratio=0.01"])
    assert "stage1.eval_steps: -1 does not mean never" in msg and "eval_strategy: no" in msg


def test_evaluation_without_validation_data_is_refused(tmp_path):
    msg = problems(tmp_path, BASE, ["stage1.eval_steps=100"])
    assert "stage1.eval_steps: has no effect: stage1 has no validation data" in msg
    ok(tmp_path, BASE, ["stage1.eval_steps=100", "stage1.val_dataset=[v.jsonl]"])
    ok(tmp_path, BASE, ["stage1.eval_steps=100", "swift.split_dataset_ratio=0.01"])


def test_init_best_needs_stage1_to_evaluate(tmp_path):
    msg = problems(tmp_path, BASE, ["stage2.init=best"])
    assert "stage2.init: best needs stage1 to evaluate" in msg
    ok(tmp_path, BASE, ["stage2.init=best", "stage1.split_dataset_ratio=0.01", "stage1.eval_steps=10"])


def test_vllm_is_refused_for_a_family_it_cannot_build(tmp_path):
    text = BASE.replace("qwen2_5_vl", "smolvlm_qwen3") + "plugins: [smolvlm_qwen3]\ndeploy: {infer_backend: vllm}\n"
    msg = problems(tmp_path, text)
    assert "deploy.infer_backend: vllm cannot serve model_type smolvlm_qwen3" in msg and "q_norm" in msg
    assert "infer_backend: transformers" in msg


# -- what `run` would discover only after training: refused when the recipe loads --------------------------

LORA_EXPORT = """
swift: {model_type: qwen2_vl, template: qwen2_vl}
lora: {init: Qwen/Qwen2-VL-2B-Instruct, dataset: [x.jsonl]}
export: {merge_lora: false}
"""


def test_an_export_that_merges_nothing_is_refused(tmp_path):
    assert "export.merge_lora: is false, so export has nothing to do" in problems(tmp_path, LORA_EXPORT)
    ok(tmp_path, LORA_EXPORT.replace("merge_lora: false", "merge_lora: true"))


def test_an_eval_section_that_names_no_benchmark_is_refused(tmp_path):
    assert "eval: names no benchmark" in problems(tmp_path, BASE + "eval: {limit: 3}\n")


def test_an_eval_set_evalscope_cannot_read_is_refused(tmp_path):
    msg = problems(tmp_path, BASE + "eval:\n  local: [{name: q, path: questions.txt}]\n")
    assert "eval.local.0.path: questions.txt: EvalScope reads .jsonl, .csv, .tsv, .parquet" in msg
    ok(tmp_path, BASE + "eval:\n  local: [{name: q, path: questions.jsonl}]\n")
