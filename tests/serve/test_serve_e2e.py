"""End to end on CPU: real `swift deploy` (transformers backend) of a tiny stage-2 model, real EvalScope.

The tiny model is randomly initialised, so these tests check the pipeline (endpoint up, requests
answered, report parsed, table printed, samples counted, processes gone), never accuracy.
"""
import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from swiftplus.core import ports
from swiftplus.core.errors import UserError
from swiftplus.recipe.load import load_recipe
from swiftplus.serve import server as srv
from tests.helpers import assert_none_left, make_vmcq, processes_mentioning, served_recipe
from tests.helpers import run_cli as cli

pytestmark = pytest.mark.slow


def rows_of(run_dir):
    return json.loads((run_dir / "eval" / "results.json").read_text())["rows"]


def test_eval_starts_endpoint_evaluates_local_set_and_stops_it(tmp_path, tiny_vl):
    make_vmcq(tmp_path / "vmcq", n=6)
    recipe = served_recipe(tmp_path, tiny_vl, limit=4)
    r = cli("eval", recipe, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    header = next(line for line in r.stdout.splitlines() if "┃ model" in line)
    for col in ("model", "benchmark", "subset", "metric", "score", "samples"):
        assert col in header
    (row,) = rows_of(tmp_path / "runs" / "served")
    assert (row["model"], row["benchmark"], row["subset"], row["metric"]) == \
        ("tiny-vl (stage2)", "colours", "default", "Accuracy")
    assert row["samples"] == 4 and 0.0 <= row["score"] <= 1.0 and row["errors"] == 0
    eval_dir = tmp_path / "runs" / "served" / "eval"
    assert (eval_dir / "stage2" / "colours" / "reports" / "tiny-vl" / "general_vmcq.json").is_file()
    assert "| tiny-vl (stage2) | colours | default | Accuracy |" in (eval_dir / "results.md").read_text()
    # the endpoint answered 4 image requests and was stopped
    assert (eval_dir / "stage2" / "server.log").read_text().count("POST /v1/chat/completions") == 4
    assert_none_left(str(tiny_vl))
    assert_none_left(str(tmp_path))


def test_detached_endpoint_busy_port_eval_reuse_and_stop(tmp_path, tiny_vl):
    make_vmcq(tmp_path / "vmcq", n=4)
    port = ports.free_port()
    recipe = served_recipe(tmp_path, tiny_vl, port=port, limit=2)
    try:
        r = cli("deploy", recipe, "--detach", cwd=tmp_path)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert f"endpoint ready: http://127.0.0.1:{port}/v1  model: tiny-vl" in r.stdout
        assert ports.served_models(f"http://127.0.0.1:{port}/v1") == ["tiny-vl"]

        second = cli("deploy", recipe, cwd=tmp_path, timeout=60)  # fails before starting anything
        assert second.returncode == 2 and f"cannot deploy on 127.0.0.1:{port}: port {port} is in use" in second.stderr
        assert len(processes_mentioning(f"--port {port}")) == 2  # the detached one only: swift + its server

        r = cli("eval", recipe, cwd=tmp_path)  # reuses the detached endpoint: starts no server of its own
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert rows_of(tmp_path / "runs" / "served")[0]["samples"] == 2
        assert not (tmp_path / "runs" / "served" / "eval" / "stage2" / "server.log").exists()
        assert ports.served_models(f"http://127.0.0.1:{port}/v1") == ["tiny-vl"]  # and left it running
    finally:
        stop = cli("deploy", recipe, "--stop", cwd=tmp_path, timeout=60)
    assert stop.returncode == 0 and "stopped the endpoint" in stop.stdout
    assert_none_left(str(tiny_vl))
    with pytest.raises(OSError):
        ports.served_models(f"http://127.0.0.1:{port}/v1")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_eval_leaves_no_orphan(tmp_path, tiny_vl, sig):
    make_vmcq(tmp_path / "vmcq", n=60)
    recipe = served_recipe(tmp_path, tiny_vl, limit=60)
    proc = subprocess.Popen([sys.executable, "-m", "swiftplus", "eval", str(recipe)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 240
        # both running: the endpoint (serving the model dir) and EvalScope (reading tasks.json under tmp_path)
        while not (processes_mentioning(str(tiny_vl)) and processes_mentioning(str(tmp_path / "runs"))):
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() is not None else "timeout"
            time.sleep(0.5)
        proc.send_signal(sig)
        rc = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 130
    assert_none_left(str(tiny_vl))
    assert_none_left(str(tmp_path))


def test_real_swift_deploy_moving_port_is_caught(tmp_path, tiny_vl):
    """Bypass the pre-check to prove the second guard: ms-swift's silent move is read from its own log."""
    with socket.socket() as blocker:
        blocker.bind(("0.0.0.0", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        recipe = load_recipe(str(served_recipe(tmp_path, tiny_vl))).recipe
        launch = srv.prepare(recipe, port=port)
        server = srv.Server(launch, tmp_path / "server.log")
        with pytest.raises(UserError) as e:
            server.wait_ready(timeout=240)
    assert "moved the endpoint to port" in str(e.value) and f"because {port} was taken" in str(e.value)
    assert_none_left(str(tiny_vl))


@pytest.mark.skipif(importlib.util.find_spec("sse_starlette") is None, reason="evalscope[perf] is not installed")
def test_perf_reports_throughput_and_latency(tmp_path, tiny_vl):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_vl, model)
    recipe = served_recipe(tmp_path, model)
    args = ("perf", recipe, "--parallel", "1", "--parallel", "2", "--number", "2", "--number", "2")
    kept = {f: f.read_text() for f in model.glob("*") if f.name.startswith("chat_template") or f.name ==
            "tokenizer_config.json"}
    for f in kept:  # a checkpoint without a chat template is refused before any server starts
        if f.name.startswith("chat_template"):
            f.unlink()
    tok = json.loads(kept[model / "tokenizer_config.json"])
    tok.pop("chat_template", None)
    (model / "tokenizer_config.json").write_text(json.dumps(tok))
    r = cli(*args, cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and "has no chat template" in r.stderr and "chat_template.jinja" in r.stderr
    for f, text in kept.items():
        f.write_text(text)
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = json.loads((tmp_path / "runs" / "served" / "perf" / "summary.json").read_text())["rows"]
    assert [(x["parallel"], x["requests"], x["succeeded"]) for x in rows] == [(1, 2, 2), (2, 2, 2)]
    assert all(x["req_per_s"] > 0 and x["latency_p99_s"] >= x["latency_p50_s"] > 0 for x in rows)
    assert "req/s" in r.stdout
    assert_none_left(str(model))


def test_foreground_deploy_with_api_key_stops_on_sigterm(tmp_path, tiny_vl):
    """Also: the key shows in no process's argv and no log, and a checkpoint whose training recorded
    attn_impl flash_attn in args.json (as on a GPU box) serves on CPU, because serving passes its own."""
    import shutil
    import urllib.error
    import urllib.request

    model = tmp_path / "trained-with-flash-attn"
    shutil.copytree(tiny_vl, model)
    (model / "args.json").write_text(json.dumps({"attn_impl": "flash_attn", "swift_version": "4.6.0"}))
    port = ports.free_port()
    recipe = served_recipe(tmp_path, model, port=port)
    proc = subprocess.Popen([sys.executable, "-m", "swiftplus", "deploy", str(recipe), "--set", "deploy.api_key=s3cret"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        ready = next(line for line in proc.stdout if line.startswith("endpoint ready") or proc.poll() is not None)
        assert ready.startswith(f"endpoint ready (API key required): http://127.0.0.1:{port}/v1  model: tiny-vl")
        body = json.dumps({"model": "tiny-vl", "max_tokens": 2,
                           "messages": [{"role": "user", "content": "hi"}]}).encode()

        def ask(key):
            headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body, headers)
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return resp.status
            except urllib.error.HTTPError as e:
                return e.code

        assert ask(None) >= 400 and ask("wrong") >= 400
        assert ask("s3cret") == 200
        servers = processes_mentioning(str(model))
        assert servers and not any("s3cret" in line for line in servers), servers
        log = (tmp_path / "runs" / "served" / "deploy" / "server.log").read_text()
        assert "api_key='***'" in log and "s3cret" not in log
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_none_left(str(model))


def test_compare_evaluates_each_checkpoint_through_its_own_endpoint(tmp_path, tiny_vl):
    make_vmcq(tmp_path / "vmcq", n=4)
    recipe = served_recipe(tmp_path, tiny_vl, limit=2)
    stage1 = tmp_path / "runs" / "served" / "stage1"
    stage1.mkdir()
    (stage1 / "complete.json").write_text(json.dumps({"checkpoint": str(tiny_vl)}))
    r = cli("eval", recipe, "--compare", "stage1,stage2", cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = rows_of(tmp_path / "runs" / "served")
    assert [(x["model"], x["benchmark"], x["samples"]) for x in rows] == \
        [("tiny-vl (stage1)", "colours", 2), ("tiny-vl (stage2)", "colours", 2)]
    for label in ("stage1", "stage2"):
        assert (tmp_path / "runs" / "served" / "eval" / label / "server.log").is_file()
    assert_none_left(str(tiny_vl))
