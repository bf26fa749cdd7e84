"""Deploy decisions and the endpoint lifecycle, with small real processes in place of a model server."""
import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

from swiftplus.core import ports, runs
from swiftplus.core.errors import UserError
from swiftplus.core.tools import fields_for
from swiftplus.recipe.load import load_recipe
from swiftplus.serve import endpoint
from swiftplus.serve import server as srv
from swiftplus.serve.command import Launch, served_model
from tests.helpers import served_recipe

# Answers /v1/models like `swift deploy` does, after an optional delay; can also print ms-swift's arg line.
FAKE_SERVER = r"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
port, name, delay, logged_port = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
print(f"[INFO:swift] args: DeployArguments(model='x', host='127.0.0.1', port={logged_port}, api_key=None)", flush=True)
time.sleep(delay)
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"data": [{"id": name, "object": "model"}], "object": "list"}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
print("serving", flush=True)
HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def fake_launch(tmp_path, *, name="tiny-vl", delay=0.0, logged_port=None, serve_name=None, timeout=20.0,
                argv=None, port=None):
    port = port or ports.free_port()
    argv = argv or [sys.executable, "-c", FAKE_SERVER, str(port), serve_name or name, str(delay),
                    str(logged_port or port)]
    served = served_model(load_recipe(str(served_recipe(tmp_path, tmp_path / "model"))).recipe)
    return Launch(argv, {}, "127.0.0.1", port, name, served, None, timeout)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# -- what gets served -----------------------------------------------------------------------------

def test_missing_stage2_names_the_marker_and_the_fix(tmp_path):
    path = served_recipe(tmp_path, tmp_path / "model")
    (tmp_path / "runs" / "served" / "stage2" / "complete.json").unlink()
    with pytest.raises(UserError) as e:
        srv.prepare(load_recipe(str(path)).recipe)
    msg = str(e.value)
    # the fix names the recipe as the user named it (here a path: `served` alone would not be found)
    assert "stage2" in msg and "complete.json" in msg and f"swiftplus train {path} --stage 2" in msg


def test_missing_checkpoint_dir_is_named(tmp_path):
    recipe = load_recipe(str(served_recipe(tmp_path, tmp_path / "nowhere"))).recipe
    with pytest.raises(UserError, match="nowhere does not exist"):
        srv.prepare(recipe)
    with pytest.raises(UserError, match="gone does not exist"):
        srv.prepare(recipe, source=str(tmp_path / "gone"))


def test_from_path_with_adapters_serves_them_on_the_base(tmp_path):
    ckpt = tmp_path / "model"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    lora = tmp_path / "lora-ckpt"
    lora.mkdir()
    (lora / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(ckpt)}))
    recipe = load_recipe(str(served_recipe(tmp_path, ckpt))).recipe
    launch = srv.prepare(recipe, source=str(lora))
    argv = launch.argv
    assert argv[argv.index("--model") + 1] == str(ckpt) and argv[argv.index("--adapters") + 1] == str(lora)


def test_generated_flags_are_all_known_to_installed_swift_deploy(tmp_path):
    ckpt = tmp_path / "model"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    launch = srv.prepare(load_recipe(str(served_recipe(tmp_path, ckpt, port=18123))).recipe)
    flags = [a[2:] for a in launch.argv if a.startswith("--")]
    known = fields_for("deploy")
    assert set(flags) <= set(known), set(flags) - set(known)
    assert "check_model" not in flags  # a training flag: swift deploy rejects it
    assert launch.host == "127.0.0.1" and launch.port == 18123
    assert launch.argv[launch.argv.index("--infer_backend") + 1] == "transformers"


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_recipe_without_vllm_says_what_to_do(tmp_path):
    ckpt = tmp_path / "model"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    path = served_recipe(tmp_path, ckpt)
    with pytest.raises(UserError) as e:
        srv.prepare(load_recipe(str(path), ["deploy.infer_backend=vllm"]).recipe)
    assert "vllm is not installed" in str(e.value) and "deploy.infer_backend=transformers" in str(e.value)


def test_api_key_from_recipe_or_environment_stays_out_of_argv(tmp_path, monkeypatch):
    ckpt = tmp_path / "model"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    path = served_recipe(tmp_path, ckpt)
    monkeypatch.setenv("SWIFTPLUS_API_KEY", "from-env")
    launch = srv.prepare(load_recipe(str(path)).recipe)
    assert launch.api_key == "from-env" and launch.env["SWIFTPLUS_API_KEY"] == "from-env"
    assert launch.argv[1:3] == ["-m", "swiftplus.serve.keyed"] and "--api_key" not in launch.argv
    assert not any("from-env" in a for a in launch.argv)
    launch = srv.prepare(load_recipe(str(path), ["deploy.api_key=in-recipe"]).recipe)
    assert launch.api_key == "in-recipe" and not any("in-recipe" in a for a in launch.argv)
    monkeypatch.delenv("SWIFTPLUS_API_KEY")
    launch = srv.prepare(load_recipe(str(path)).recipe)
    assert launch.api_key is None and launch.argv[1] == "deploy" and "SWIFTPLUS_API_KEY" not in launch.env


def test_an_open_bind_without_a_key_is_refused(tmp_path, monkeypatch):
    ckpt = tmp_path / "model"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    path = served_recipe(tmp_path, ckpt)
    monkeypatch.delenv("SWIFTPLUS_API_KEY", raising=False)
    with pytest.raises(UserError, match="deploy.host 0.0.0.0 serves beyond this machine without an API key"):
        srv.prepare(load_recipe(str(path), ["deploy.host=0.0.0.0"]).recipe)
    assert srv.prepare(load_recipe(str(path), ["deploy.host=0.0.0.0", "deploy.api_key=k"]).recipe).host == "0.0.0.0"
    opened = srv.prepare(load_recipe(str(path), ["deploy.host=0.0.0.0", "deploy.allow_unauthenticated=true"]).recipe)
    assert opened.api_key is None
    assert srv.prepare(load_recipe(str(path), ["deploy.host=localhost"]).recipe).host == "localhost"


def test_the_keyed_deploy_masks_the_key_in_ms_swifts_argument_log():
    from dataclasses import dataclass

    from swiftplus.serve.keyed import masked_repr

    @dataclass
    class Args:
        port: int = 1
        api_key: str | None = None

    Args.__repr__ = masked_repr(Args)
    assert repr(Args(8000, "s3cret")).endswith("Args(port=8000, api_key='***')")
    assert "s3cret" not in f"{Args(1, 's3cret')}" and repr(Args(8000)).endswith("Args(port=8000, api_key=None)")


def test_serving_chooses_its_own_attention_and_keeps_an_explicit_one(tmp_path):
    ckpt = tmp_path / "model"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    path = served_recipe(tmp_path, ckpt)
    argv = srv.prepare(load_recipe(str(path)).recipe).argv
    assert argv[argv.index("--attn_impl") + 1] == "sdpa"  # not what training left in args.json
    argv = srv.prepare(load_recipe(str(path), ["deploy.attn_impl=eager"]).recipe).argv
    assert argv[argv.index("--attn_impl") + 1] == "eager"


# -- readiness ------------------------------------------------------------------------------------

def test_ready_once_models_lists_ours(tmp_path):
    server = srv.Server(fake_launch(tmp_path, delay=1.0), tmp_path / "server.log")
    try:
        ep = server.wait_ready()
        assert ep.base_url == f"http://127.0.0.1:{server.launch.port}/v1" and ep.model == "tiny-vl"
        assert ports.served_models(ep.base_url) == ["tiny-vl"]
    finally:
        server.stop()
    assert gone(server.pid)


def test_early_exit_shows_the_last_log_lines(tmp_path):
    argv = [sys.executable, "-c", "print('loading'); print('ValueError: remaining_argv: [--bogus]'); raise SystemExit(1)"]
    server = srv.Server(fake_launch(tmp_path, argv=argv), tmp_path / "server.log")
    with pytest.raises(UserError) as e:
        server.wait_ready()
    assert "exited (status 1)" in str(e.value) and "remaining_argv: [--bogus]" in str(e.value)


def test_timeout_stops_the_server(tmp_path):
    server = srv.Server(fake_launch(tmp_path, delay=60, timeout=2.0), tmp_path / "server.log")
    with pytest.raises(UserError, match="did not answer .* within 2 s"):
        server.wait_ready()
    assert gone(server.pid)


def test_a_move_to_another_port_is_an_error(tmp_path):
    launch = fake_launch(tmp_path, delay=30)
    launch = Launch(launch.argv[:-1] + [str(launch.port + 1)], {}, "127.0.0.1", launch.port, launch.model,
                           launch.served, None, 20.0)
    server = srv.Server(launch, tmp_path / "server.log")
    with pytest.raises(UserError) as e:
        server.wait_ready()
    assert f"moved the endpoint to port {launch.port + 1} because {launch.port}" in str(e.value)
    assert gone(server.pid)


def test_another_model_on_the_port_is_an_error(tmp_path):
    server = srv.Server(fake_launch(tmp_path, serve_name="someone-else"), tmp_path / "server.log")
    with pytest.raises(UserError, match="answers for \\['someone-else'\\], not for tiny-vl"):
        server.wait_ready()
    assert gone(server.pid)


# -- detached endpoints ---------------------------------------------------------------------------

def test_detach_record_then_stop(tmp_path):
    recipe = load_recipe(str(served_recipe(tmp_path, tmp_path / "model"))).recipe
    server = srv.Server(fake_launch(tmp_path), tmp_path / "server.log", detach=True)
    server.wait_ready()
    path = endpoint.write_record(recipe, server)
    rec = endpoint.read_record(recipe)
    assert rec["alive"] and rec["pid"] == server.pid and rec["port"] == server.launch.port
    assert rec["base_url"] == server.endpoint.base_url and rec["model"] == "tiny-vl"
    msg = endpoint.stop_recorded(recipe)
    assert "stopped the endpoint" in msg and not path.exists()
    server.proc.wait(timeout=5)
    assert gone(server.pid)
    assert "no detached endpoint is recorded" in endpoint.stop_recorded(recipe)


def test_a_second_server_does_not_share_a_detached_servers_log(tmp_path):
    recipe = load_recipe(str(served_recipe(tmp_path, tmp_path / "model"))).recipe
    log = runs.deploy_dir(recipe) / "server.log"
    assert srv.server_log(recipe, 1234) == log
    server = srv.Server(fake_launch(tmp_path), log, detach=True)
    try:
        server.wait_ready()
        endpoint.write_record(recipe, server)
        assert srv.server_log(recipe, 1234) == log.with_name("server-1234.log")
    finally:
        endpoint.stop_recorded(recipe)
    assert srv.server_log(recipe, 1234) == log


def test_stale_record_is_removed(tmp_path):
    recipe = load_recipe(str(served_recipe(tmp_path, tmp_path / "model"))).recipe
    dead = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    dead.wait()
    path = runs.server_record(recipe)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": dead.pid, "pgid": dead.pid, "base_url": "http://127.0.0.1:1/v1", "model": "m"}))
    assert endpoint.read_record(recipe)["alive"] is False
    assert "no longer running" in endpoint.stop_recorded(recipe) and not path.exists()


def test_record_of_a_reused_pid_is_not_trusted(tmp_path):
    recipe = load_recipe(str(served_recipe(tmp_path, tmp_path / "model"))).recipe
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        path = runs.server_record(recipe)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"pid": other.pid, "pgid": other.pid, "create_time": time.time() - 3600,
                                    "base_url": "http://127.0.0.1:1/v1", "model": "m"}))
        assert endpoint.read_record(recipe)["alive"] is False
        endpoint.stop_recorded(recipe)
        assert other.poll() is None  # a process that merely got the same pid is never killed
    finally:
        other.kill()
        other.wait()
