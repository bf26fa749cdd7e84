"""The nodes of a multi-node rehearsal meet through their shared run directory; a node waiting on node 0 stops
when node 0's rehearsal has stopped instead of waiting out its timeout; the machine facts a rehearsal reads."""
from __future__ import annotations

import threading
import time

import pytest

from swiftplus.core.errors import UserError
from swiftplus.rehearse import machine, nodes


def test_a_waiting_node_stops_when_node_0_has_stopped(tmp_path):
    threading.Timer(0.3, lambda: nodes.done(tmp_path, 0, 2, wait=False)).start()
    started = time.monotonic()
    with pytest.raises(UserError, match="node 0's rehearsal stopped before node 0's graft"):
        nodes.wait_for(tmp_path, lambda: False, "node 0's graft", timeout=30)
    assert time.monotonic() - started < 5


def test_waiting_ends_when_ready_or_after_the_timeout(tmp_path):
    nodes.wait_for(tmp_path, lambda: True, "anything", timeout=0)
    with pytest.raises(UserError, match="waited 0 s for stage1 to complete on node 0"):
        nodes.wait_for(tmp_path, lambda: False, "stage1 to complete on node 0", timeout=0)


def test_node_0_waits_for_the_others_before_it_removes_the_directory(tmp_path):
    threading.Timer(0.5, lambda: nodes.done(tmp_path, 1, 2)).start()
    started = time.monotonic()
    nodes.done(tmp_path, 0, 2)
    assert (tmp_path / "node-1.done").is_file() and 0.4 < time.monotonic() - started < 5


def test_node_0_writes_the_recipe_every_node_loads(tmp_path):
    from swiftplus.recipe.load import load_recipe

    data = {**load_recipe("tiny").data, "run_dir": str(tmp_path / "work")}
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "stale").write_text("from a rehearsal killed outright")
    first = nodes.shared_recipe(tmp_path / "work", data, 0)
    assert not (tmp_path / "work" / "stale").exists()
    second = nodes.shared_recipe(tmp_path / "work", {}, 1)
    assert first.data == second.data and second.recipe.run_dir == str(tmp_path / "work")


def test_an_offline_environment_never_asks_the_hub(monkeypatch):
    monkeypatch.setattr(machine.socket, "create_connection", lambda *a, **k: pytest.fail("asked the network"))
    assert machine.hub_reachable("modelscope", {"MODELSCOPE_OFFLINE": "1"}) is False
    assert machine.hub_reachable("hf", {"HF_HUB_OFFLINE": "true"}) is False


def test_other_nodes_wait_for_node_0s_data_not_for_a_graft(tmp_path):
    # a recipe without a graft section (a LoRA on a released VLM) has no graft for node 1 to wait for
    with pytest.raises(UserError, match="waited 0 s for node 0's data"):
        nodes.wait_for(tmp_path, (tmp_path / nodes.DATA_READY).is_file, "node 0's data", timeout=0)
    nodes.data_ready(tmp_path, 1)
    assert not (tmp_path / nodes.DATA_READY).exists()  # only node 0 speaks for the data
    nodes.data_ready(tmp_path, 0)
    nodes.wait_for_data(tmp_path)  # returns at once
