"""Each checkpoint is asked only the sets that name it: the donor the text questions, the trained stages the
pictures; a checkpoint asked nothing gets no server."""
import pytest

from swiftplus.evaluate import run as evaluation
from swiftplus.evaluate.config import asks_anything, eval_tasks
from swiftplus.recipe.load import load_recipe

ASKED = {"donor": ["text"], "graft": ["text", "shapes"], "graft-qwen2.5-vl": ["text"], "stage1": ["shapes", "blank"],
         "stage2": ["shapes", "blank"]}


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return load_recipe("tiny").recipe


@pytest.mark.parametrize("source", list(ASKED))
def test_the_demo_asks_each_checkpoint_its_own_sets(tiny, tmp_path, source):
    tasks = eval_tasks(tiny, base_url="http://127.0.0.1:1/v1", model="tiny", api_key=None, work_dir=tmp_path / source,
                       source=source)
    assert [t.label for t in tasks] == ASKED[source]
    for task in tasks:
        assert task.config["dataset_args"]["general_vmcq"]["subset_list"] == [task.label]
        assert task.work_dir == str(tmp_path / source / task.label)


def test_sets_without_sources_are_asked_of_every_checkpoint(tiny, tmp_path):
    for local in tiny.eval.local:
        local.sources = []
    tasks = eval_tasks(tiny, base_url="http://127.0.0.1:1/v1", model="tiny", api_key=None, work_dir=tmp_path,
                       source="stage1")
    assert [t.label for t in tasks] == ["text", "shapes", "blank"]


def test_a_checkpoint_asked_nothing_is_skipped_before_any_server_starts(tiny, monkeypatch, capsys):
    assert asks_anything(tiny, "stage2") and not asks_anything(tiny, "export")
    monkeypatch.setattr(evaluation, "prepare_local_sets", lambda recipe: {})
    monkeypatch.setattr(evaluation, "serving", lambda *a, **k: pytest.fail("no server for a checkpoint asked nothing"))
    monkeypatch.setattr(evaluation, "source_label", lambda recipe, source: source)
    monkeypatch.setattr(evaluation, "write_results", lambda recipe, rows, meta: None)
    assert evaluation.evaluate(tiny, ["export"]) == []
    assert "no benchmark is asked of export" in capsys.readouterr().out
