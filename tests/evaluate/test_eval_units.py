"""EvalScope task configs checked by the installed EvalScope itself; local sets; limits; VLMEvalKit; perf argv."""
import json
from pathlib import Path

import pytest

from swiftplus.core.errors import UserError
from swiftplus.core.secrets import PLACEHOLDER
from swiftplus.evaluate import local_sets
from swiftplus.evaluate.config import eval_tasks, normalize_limit
from swiftplus.evaluate.perf import perf_argv, settings
from swiftplus.evaluate.results import ScoreRow, markdown, scores
from swiftplus.evaluate.run import check_backend, tasks_for
from swiftplus.recipe.load import load_recipe
from swiftplus.recipe.schema import LocalBenchmark
from swiftplus.serve.endpoint import Endpoint
from tests.helpers import make_vmcq, served_recipe

ENDPOINT = Endpoint("http://127.0.0.1:18001/v1", "tiny-vl")


def parsed(config: dict):
    from evalscope.config import TaskConfig

    return TaskConfig.from_dict(config)


def test_mmmu_config_is_what_evalscope_reads():
    recipe = load_recipe("qwen3-8b-vl").recipe
    (task,) = eval_tasks(recipe, base_url="http://127.0.0.1:8000/v1", model="Qwen3-VL", api_key=None,
                         work_dir="runs/qwen3-8b-vl/eval/stage2")
    cfg = parsed(task.config)
    assert cfg.eval_type == "openai_api" and cfg.datasets == ["mmmu"] and cfg.model == "Qwen3-VL"
    assert cfg.api_url == "http://127.0.0.1:8000/v1" and cfg.no_timestamp
    assert cfg.work_dir == "runs/qwen3-8b-vl/eval/stage2/mmmu"
    gen = cfg.generation_config
    assert (gen.temperature, gen.max_tokens) == (0.6, 512)


def test_local_set_reaches_evalscope_as_a_local_path(tmp_path):
    from evalscope.api.registry import get_benchmark

    make_vmcq(tmp_path / "vmcq")
    recipe = load_recipe(str(served_recipe(tmp_path, tmp_path / "model", limit=3))).recipe
    (task,) = eval_tasks(recipe, base_url=ENDPOINT.base_url, model="tiny-vl", api_key=None, work_dir=tmp_path / "e")
    assert task.label == "colours" and task.dataset == "general_vmcq"
    cfg = parsed(task.config)
    assert cfg.limit == 3
    bench = get_benchmark("general_vmcq", cfg)
    # a dataset_id after local_path would replace the path and send EvalScope to the hub
    assert bench.dataset_id == str(tmp_path / "vmcq")


def test_limits_overrides_and_fractions(tmp_path):
    recipe = load_recipe(str(served_recipe(tmp_path, tmp_path / "model", limit=3))).recipe
    (task,) = eval_tasks(recipe, base_url=ENDPOINT.base_url, model="m", api_key="k", work_dir=tmp_path, limit=5.0)
    assert task.config["limit"] == 5 and isinstance(task.config["limit"], int)
    assert task.config["api_key"] == PLACEHOLDER and '"k"' not in json.dumps(task.config)  # filled in by the child
    assert normalize_limit(0.5) == 0.5 and normalize_limit(1.0) == 1 and normalize_limit(20) == 20


def test_each_benchmark_has_its_own_work_dir(tmp_path):
    (tmp_path / "other").mkdir()
    extra = f"    - {{name: second, path: {tmp_path / 'other'}, kind: vqa}}\n  benchmarks: [ai2d, {{name: mmmu, limit: 2, subsets: [Art]}}]"
    recipe_text = served_recipe(tmp_path, tmp_path / "model").read_text().replace("  limit: 4", extra + "\n  limit: 4")
    path = tmp_path / "multi.yaml"
    path.write_text(recipe_text)
    tasks = eval_tasks(load_recipe(str(path)).recipe, base_url=ENDPOINT.base_url, model="m", api_key=None,
                       work_dir=tmp_path / "e")
    assert [t.label for t in tasks] == ["ai2d", "mmmu", "colours", "second"]
    assert len({t.work_dir for t in tasks}) == 4
    mmmu = tasks[1].config
    assert mmmu["limit"] == 2 and mmmu["dataset_args"] == {"mmmu": {"subset_list": ["Art"]}}
    assert tasks[3].config["datasets"] == ["general_vqa"]
    for t in tasks:
        parsed(t.config)


def test_vlmevalkit_config_follows_seed_000(tmp_path):
    recipe = load_recipe("qwen3-8b-vl", ["eval.backend=vlmevalkit", "eval.benchmarks=[MMMU_DEV_VAL]"]).recipe
    (task,) = eval_tasks(recipe, base_url="http://127.0.0.1:8000/v1", model="Qwen3-VL", api_key=None,
                         work_dir=tmp_path)
    cfg = task.config
    assert cfg["eval_backend"] == "VLMEvalKit"
    model = cfg["eval_config"]["model"][0]
    assert model["api_base"] == "http://127.0.0.1:8000/v1/chat/completions" and model["name"] == "CustomAPIModel"
    assert model["type"] == "Qwen3-VL" and model["temperature"] == 0.6 and model["max_tokens"] == 512
    assert cfg["eval_config"]["data"] == ["MMMU_DEV_VAL"] and cfg["eval_config"]["judge"] == "exact_matching"
    parsed(cfg)


def test_vlmevalkit_missing_says_how_to_install(tmp_path):
    import importlib.util

    if importlib.util.find_spec("vlmeval") is not None:
        pytest.skip("VLMEvalKit is installed here")
    recipe = load_recipe("qwen3-8b-vl", ["eval.backend=vlmevalkit"]).recipe
    with pytest.raises(UserError, match=r"evalscope\[vlmeval\]"):
        check_backend(recipe)


# -- local sets -----------------------------------------------------------------------------------

def test_relative_images_are_made_absolute(tmp_path):
    data = make_vmcq(tmp_path / "set", n=3)
    local = LocalBenchmark(name="colours", path=str(data), kind="vmcq")
    path = local_sets.prepare(local, tmp_path / "prepared", cwd=tmp_path / "elsewhere")
    assert path == tmp_path / "prepared"
    rows = [json.loads(line) for line in (path / "default_val.jsonl").read_text().splitlines()]
    assert [r["image_1"] for r in rows] == [str(data / "img" / f"{i}.png") for i in range(3)]
    # already resolvable from the working directory: used as it is
    assert local_sets.prepare(local, tmp_path / "p2", cwd=data) == data.resolve()


def test_missing_image_is_reported_with_file_and_line(tmp_path):
    data = make_vmcq(tmp_path / "set", n=3)
    (data / "img" / "1.png").unlink()
    with pytest.raises(UserError) as e:
        local_sets.prepare(LocalBenchmark(name="c", path=str(data)), tmp_path / "out", cwd=tmp_path)
    assert f"{data / 'default_val.jsonl'}:2" in str(e.value) and "img/1.png" in str(e.value)


def test_missing_subset_file_names_what_is_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="default_test.jsonl"):
        local_sets.data_files(LocalBenchmark(name="q", path=str(tmp_path / "empty"), kind="vqa"))
    with pytest.raises(UserError, match="does not exist"):
        local_sets.data_files(LocalBenchmark(name="q", path=str(tmp_path / "nope")))


def test_prepared_path_goes_into_the_config(tmp_path):
    make_vmcq(tmp_path / "vmcq")
    recipe = load_recipe(str(served_recipe(tmp_path, tmp_path / "model"))).recipe
    (task,) = tasks_for(recipe, ENDPOINT, tmp_path / "e", local_paths={"colours": "/prepared/colours"})
    assert task.config["dataset_args"]["general_vmcq"]["local_path"] == "/prepared/colours"


# -- table and headline scores --------------------------------------------------------------------

def test_markdown_and_headline_scores():
    rows = [ScoreRow("m (stage2)", "mmmu", "Art", "Accuracy", 0.5, 2),
            ScoreRow("m (stage2)", "mmmu", "OVERALL", "Accuracy", 0.25, 4),
            ScoreRow("m (stage2)", "vqa", "default", "BLEU", 0.1, 4, primary=False),
            ScoreRow("m (stage2)", "vqa", "default", "Rouge", 0.3, 4)]
    assert scores(rows) == {"m (stage2)": {"mmmu": 0.25, "vqa": 0.3}}
    md = markdown(rows).splitlines()
    assert md[0] == "| model | benchmark | subset | metric | score | samples |"
    assert md[3] == "| m (stage2) | mmmu | OVERALL | Accuracy | 0.2500 | 4 |"


# -- perf -----------------------------------------------------------------------------------------

def test_perf_settings_and_argv(tmp_path):
    s = settings([1, 8], None)
    assert s.number == [8, 32]
    with pytest.raises(UserError, match="one --number per --parallel"):
        settings([1, 2], [4])
    argv = perf_argv("http://127.0.0.1:9/v1", "tiny-vl", "/m", tmp_path, s)
    joined = " ".join(argv)
    assert "--url http://127.0.0.1:9/v1/chat/completions" in joined and "--dataset random_vl" in joined
    assert "--parallel 1 8 --number 8 32" in joined and "--tokenizer-path /m" in joined
    assert "--api-key" not in argv  # appended inside the child from SWIFTPLUS_API_KEY


def test_vlmevalkit_score_sheets_are_read_as_ms_vlmeval_writes_them(tmp_path):
    """The layout and CSV dialect of ms-vlmeval 0.0.20 (report_acc + dump_csv with QUOTE_ALL), made here
    because VLMEvalKit itself needs its hub data to run."""
    import csv as csv_module

    import pandas as pd

    from swiftplus.evaluate.results import read_vlmevalkit

    recipe = load_recipe("qwen3-8b-vl", ["eval.backend=vlmevalkit", "eval.benchmarks=[MMMU_DEV_VAL, MME]"]).recipe
    (task,) = eval_tasks(recipe, base_url="http://127.0.0.1:8000/v1", model="m", api_key=None, work_dir=tmp_path)
    run_dir = Path(task.work_dir) / "m" / "T20261123_G0"
    run_dir.mkdir(parents=True)

    def dump(frame: dict, name: str):
        pd.DataFrame(frame).to_csv(run_dir / name, index=False, encoding="utf-8", quoting=csv_module.QUOTE_ALL)

    dump({"split": ["dev", "validation"], "Overall": [0.5, 0.25], "Art": [1.0, 0.0]}, "m_MMMU_DEV_VAL_acc.csv")
    dump({"split": ["dev"], "Overall": [0.5], "Design": [0.5]}, "m_MMMU_DEV_VAL_l2-category_acc.csv")  # a regroup
    dump({"split": ["none"], "Overall": [0.4]}, "m_MMMU_DEV_VAL_acc_all.csv")
    dump({"perception": [1200.5], "reasoning": [300.0]}, "m_MME_score.csv")
    (run_dir / "m_MMMU_DEV_VAL.xlsx").write_bytes(b"predictions, not scores")

    rows = read_vlmevalkit(task, "m", "stage2")
    got = {(r.benchmark, r.subset, r.metric): (r.score, r.primary) for r in rows}
    assert got == {
        ("MMMU_DEV_VAL", "dev/Overall", "acc"): (0.5, True),
        ("MMMU_DEV_VAL", "dev/Art", "acc"): (1.0, False),
        ("MMMU_DEV_VAL", "validation/Overall", "acc"): (0.25, True),
        ("MMMU_DEV_VAL", "validation/Art", "acc"): (0.0, False),
        ("MME", "perception", "score"): (1200.5, False),
        ("MME", "reasoning", "score"): (300.0, False),
    }


def test_vlmevalkit_without_sheets_names_what_it_looked_for(tmp_path):
    from swiftplus.evaluate.results import read_vlmevalkit

    recipe = load_recipe("qwen3-8b-vl", ["eval.backend=vlmevalkit", "eval.benchmarks=[MMMU_DEV_VAL]"]).recipe
    (task,) = eval_tasks(recipe, base_url="http://127.0.0.1:8000/v1", model="m", api_key=None, work_dir=tmp_path)
    (Path(task.work_dir) / "m").mkdir(parents=True)
    (Path(task.work_dir) / "m" / "m_MMMU_DEV_VAL.xlsx").write_bytes(b"")
    with pytest.raises(UserError, match=r"_acc\.csv .*MMMU_DEV_VAL"):
        read_vlmevalkit(task, "m", "stage2")


def test_compare_refuses_two_checkpoints_that_would_share_a_row(tmp_path):
    from swiftplus.evaluate.run import evaluate

    for run in ("a", "b"):
        (tmp_path / run / "checkpoint-50").mkdir(parents=True)
    recipe = load_recipe("qwen3-8b-vl").recipe
    with pytest.raises(UserError, match="checkpoint-50 names more than one checkpoint"):
        evaluate(recipe, [str(tmp_path / "a" / "checkpoint-50"), str(tmp_path / "b" / "checkpoint-50")])


def test_eval_dry_run_without_an_eval_section_is_a_clean_error(tmp_path):
    from tests.helpers import run_cli as cli

    r = cli("eval", "qwen2-vl-2b-coco-lora", "--dry-run", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "has no eval section" in r.stderr
