"""The gate in front of training: converted datasets, the lint stored in the run directory, refusal past
the recipe's max_bad_fraction."""
import json
from pathlib import Path

import pytest

from swiftplus.core.errors import UserError
from swiftplus.data import DatasetSpec, TokenBudget, prepare_for_training
from swiftplus.data.prepare import budget_for, recipe_datasets
from swiftplus.recipe.load import load_recipe
from tests.data.test_lint_kinds import GOOD, llava


def dataset(manifest, media, bad: int, good: int = 8):
    rows = [dict(GOOD["llava"][i % 2], id=i) for i in range(good)]
    rows += [llava(("u", "<image>x"), ("a", "y"), images=["images/nope.jpg"])] * bad
    path, _ = manifest(rows)
    return DatasetSpec(str(path), "llava", str(media))


def test_clean_data_trains(manifest, media, tmp_path):
    spec = dataset(manifest, media, bad=0)
    out = tmp_path / "run" / "data" / "train-0.jsonl"
    results = prepare_for_training([(spec, str(out))], str(tmp_path / "run" / "lint.json"))
    assert results[0].written == 8 and len(out.read_text().splitlines()) == 8
    stored = json.loads((tmp_path / "run" / "lint.json").read_text())
    assert stored["ok"] and stored["datasets"][0]["lint"]["rows"] == 8


def test_bad_rows_refuse_training_and_the_lint_is_kept(manifest, media, tmp_path):
    spec = dataset(manifest, media, bad=2)
    lint_path = tmp_path / "lint.json"
    with pytest.raises(UserError, match=r"2 of 10 rows have errors \(20.00%; allowed 0.00%\)"):
        prepare_for_training([(spec, str(tmp_path / "t.jsonl"))], str(lint_path))
    stored = json.loads(lint_path.read_text())
    assert not stored["ok"] and stored["datasets"][0]["lint"]["counts"] == {"missing_file": 2}
    assert stored["datasets"][0]["lint"]["issues"][0]["kind"] == "missing_file"


def test_an_allowed_fraction_trains_on_the_rest(manifest, media, tmp_path):
    spec = dataset(manifest, media, bad=2)
    results = prepare_for_training([(spec, str(tmp_path / "t.jsonl"))], str(tmp_path / "lint.json"),
                                   max_bad_fraction=0.25)
    assert results[0].written == 8 and results[0].dropped == 2
    fixes = (tmp_path / "t.fixes.jsonl").read_text().splitlines()
    assert len(fixes) == 2


def test_nothing_left_is_refused_whatever_the_fraction(manifest, media, tmp_path):
    spec = dataset(manifest, media, bad=3, good=0)
    with pytest.raises(UserError, match="training refused"):
        prepare_for_training([(spec, str(tmp_path / "t.jsonl"))], str(tmp_path / "lint.json"), max_bad_fraction=1.0)


def test_budget_and_datasets_from_a_recipe(tmp_path, media):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
env: {{MAX_PIXELS: 78400}}
swift: {{model_type: qwen2_vl, template: qwen2_vl}}
lora:
  init: /models/qwen2-vl
  dataset: [{{path: {tmp_path}/a.json, format: vision-tag}}, AI-ModelScope/coco#100]
  val_dataset: [{tmp_path}/b.jsonl]
  max_length: 2048
  max_bad_fraction: 0.01
""")
    loaded = load_recipe(str(recipe), [])
    budget = budget_for(loaded.recipe, "lora", environ={})
    assert budget == TokenBudget(2048, "qwen2_vl", max_pixels=78400)
    found = recipe_datasets(loaded.recipe)
    assert [(d.stage, d.field, d.spec.path, d.spec.format, d.max_bad_fraction) for d in found] == [
        ("lora", "dataset", f"{tmp_path}/a.json", "vision-tag", 0.01),
        ("lora", "val_dataset", f"{tmp_path}/b.jsonl", "auto", 0.01)]


def test_the_training_gate_writes_what_the_sft_argv_passes_to_swift(tmp_path, media, monkeypatch):
    from swiftplus.core import runs
    from swiftplus.data.prepare import prepare_datasets
    from swiftplus.train.command import sft_flags

    rows = [llava(("u", "<image>x"), ("a", "y"), images=["images/a.jpg"]), llava(("u", "q"), ("a", "r"), ("u", "s"))]
    (tmp_path / "train.json").write_text(json.dumps(rows, indent=2))
    recipe_path = tmp_path / "r.yaml"
    recipe_path.write_text(f"""
swift: {{model_type: qwen2_vl, template: qwen2_vl}}
lora:
  init: /models/qwen2-vl
  dataset: [{{path: {tmp_path / 'train.json'}, data_root: {media}}}, AI-ModelScope/coco#10]
  max_length: 1024
""")
    recipe = load_recipe(str(recipe_path), []).recipe
    monkeypatch.chdir(tmp_path)  # run directories are relative to where swiftplus runs
    root = runs.stage_dir(recipe, "lora")
    hashed = prepare_datasets(recipe, "lora", root, root, "/models/qwen2-vl", environ={})
    local, hub = sft_flags(recipe, "lora", "/models/qwen2-vl")["dataset"]
    assert hashed == [tmp_path / "train.json", Path(local)] and hub == "AI-ModelScope/coco#10"
    assert (tmp_path / local).is_file()
    stored = json.loads((tmp_path / "runs" / "r" / "lora" / "lint.json").read_text())
    assert stored["ok"] and stored["budget"]["max_length"] == 1024
    assert [(d["out"], d["written"], d["repaired"]) for d in stored["datasets"]] == [(local, 2, 1)]
