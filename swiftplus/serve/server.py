"""The endpoint lifecycle around `swift deploy`: checks, start, readiness, detach record, stop.

Users get the port they asked for or an error: the port is checked before start (ms-swift would
silently move to the next free one), the log is watched for such a move, and after readiness the
server's process group must really listen there. Every server swiftplus starts lives in its own
process group and is stopped as a whole, also when swiftplus itself is interrupted.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from swiftplus.core import ports, runs
from swiftplus.core.choices import BACKEND_PACKAGES
from swiftplus.core.errors import UserError
from swiftplus.core.hub import is_hub_id
from swiftplus.core.process import (
    Managed,
    interrupting_signals,
    kill_group,
    spawn_detached,
    swift_executable,
)
from swiftplus.core.secrets import KEY_ENV
from swiftplus.core.stages import DEPLOY, DONOR, GRAFT, host_name, step_command
from swiftplus.core.tools import FlagsUnavailable, fields_for
from swiftplus.graft.recipe import FIXTURE, resolve_model
from swiftplus.recipe.schema import Recipe
from swiftplus.serve.backends import check_backend_serves
from swiftplus.serve.command import (
    Launch,
    ServedModel,
    launch,
    open_bind_problem,
    served_model,
    served_name,
)
from swiftplus.serve.endpoint import Endpoint, endpoint_from_record, read_record

MOVED = (re.compile(r"DeployArguments\(.*?\bport=(\d+)"), re.compile(r"Uvicorn running on \S+:(\d+)"))


def launch_endpoint(planned: Launch, pid: int | None = None, log: Path | None = None) -> Endpoint:
    return Endpoint(ports.base_url(planned.host, planned.port), planned.model, planned.api_key, planned.served.source,
                    planned.served.model, planned.served.adapters, planned.port, pid, str(log) if log else None)


def api_key_for(recipe: Recipe) -> str | None:
    """deploy.api_key, else SWIFTPLUS_API_KEY from the environment (which keeps it out of the recipe)."""
    return (recipe.deploy.api_key if recipe.deploy is not None else None) or os.environ.get(KEY_ENV) or None


def check_served(recipe: Recipe, served: ServedModel) -> None:
    """One clear message when the checkpoint to serve is not there yet."""
    if not served.resolved and host_name(recipe, served.source):
        raise UserError(f"cannot deploy {served.source}: {served.model} holds no finished graft; run "
                        f"`{step_command(recipe.ref, GRAFT)}` first (it grafts graft.also_into too)")
    if not served.resolved:
        stage = served.source
        todo = f"run `{step_command(recipe.ref, stage)}` first"
        raise UserError(f"cannot deploy from {stage}: it has not completed (no {runs.stage_dir(recipe, stage)}/"
                        f"{runs.COMPLETE}); {todo}, or pass --from PATH")
    if served.source == GRAFT and not (Path(served.model) / "config.json").is_file():
        raise UserError(f"cannot deploy from graft: {served.model} holds no grafted checkpoint (config.json); "
                        f"run `{step_command(recipe.ref, GRAFT)}` first, or pass --from PATH")
    for what, ref in (("checkpoint", served.model), ("adapters", served.adapters)):
        if ref and not is_hub_id(ref) and not Path(ref).expanduser().is_dir():
            raise UserError(f"cannot deploy {served.source}: the {what} {ref} does not exist (or is not a directory)")
    if served.source == "path" and Path(served.model).is_dir() and served.adapters is None \
            and not (Path(served.model) / "config.json").is_file():
        raise UserError(f"cannot deploy {served.model}: it is neither a checkpoint (config.json) nor LoRA adapters "
                        "(adapter_config.json)")


def check_flags(flags: dict) -> None:
    """Every flag swiftplus passes must be one the installed `swift deploy` accepts."""
    try:
        known = fields_for("deploy")
    except FlagsUnavailable as e:
        raise UserError(str(e)) from None
    unknown = sorted(k for k in flags if k not in known)
    if unknown:
        raise UserError(f"the installed ms-swift's `swift deploy` does not accept {', '.join('--' + k for k in unknown)}; "
                        "remove them from the recipe's deploy/swift sections")
    backend = flags.get("infer_backend")
    choices = known["infer_backend"].choices
    if choices and backend not in choices:
        raise UserError(f"deploy.infer_backend: {backend!r} is not one of {', '.join(choices)}")
    package = BACKEND_PACKAGES.get(backend)
    if package and importlib.util.find_spec(package) is None:
        raise UserError(f"deploy.infer_backend is {backend}, but {package} is not installed here; on a GPU machine run "
                        f"`make gpu-extra`, or serve on CPU with --set deploy.infer_backend=transformers")


def prepare(recipe: Recipe, source: str | None = None, port: int | None = None, host: str | None = None) -> Launch:
    """Decide the argv, environment and address; raise UserError for anything that would fail later."""
    served = served_model(recipe, source)
    if served.source == DONOR and recipe.graft.donor.startswith(FIXTURE):
        resolve_model(recipe.graft.donor, recipe.hub, what="graft.donor")  # built once into the cache
    check_served(recipe, served)
    planned = launch(recipe, served, port=port, host=host, api_key=api_key_for(recipe), swift=swift_executable(),
                     python=sys.executable)
    check_flags(planned.flags)
    problem = open_bind_problem(recipe, planned)
    if problem:
        raise UserError(problem)
    check_backend_serves(str(planned.flags.get("infer_backend")), served.model)
    return planned


def refuse_busy_port(planned: Launch, recipe: Recipe) -> None:
    problem = ports.port_problem(planned.host, planned.port)
    if problem:
        raise UserError(f"cannot deploy on {planned.host}:{planned.port}: {problem}. Pick another port with --port N"
                        f" (a detached endpoint of this recipe stops with `{step_command(recipe.ref, DEPLOY, '--stop')}`)")


def server_log(recipe: Recipe, port: int, log_dir: Path | None = None) -> Path:
    """server.log, unless a detached endpoint of the recipe still writes there: a second server would empty it,
    and its readiness check would read the other server's address lines as its own."""
    log = runs.server_log(recipe, log_dir=log_dir)
    rec = read_record(recipe)
    if rec and rec["alive"] and rec.get("log") and Path(rec["log"]).resolve() == log.resolve():
        return runs.server_log(recipe, port, log_dir)
    return log


class Server:
    """A started `swift deploy` group: foreground (piped through Managed) or detached (output to its log)."""

    def __init__(self, planned: Launch, log: Path, *, detach: bool = False, echo: bool = False):
        self.launch, self.log = planned, Path(log)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_bytes(b"")  # readiness reads this log from its start
        if detach:
            self.managed, self.proc = None, spawn_detached(planned.argv, log=self.log, env=planned.env)
        else:
            self.managed = Managed(planned.argv, env=planned.env, log=self.log, echo=echo).start()
            self.proc = self.managed.proc
        self.pid = self.proc.pid
        self.pgid = os.getpgid(self.pid)
        self.endpoint = launch_endpoint(planned, self.pid, self.log)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self) -> int:
        return self.managed.wait() if self.managed else self.proc.wait()

    def stop(self, grace: float = 10.0) -> None:
        if self.managed is not None:
            self.managed.stop(grace)
        else:
            kill_group(self.pid, grace)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def tail(self, n: int = 25) -> str:
        return "\n".join(log_tail(self.log, n))

    def wait_ready(self, timeout: float | None = None) -> Endpoint:
        """Block until /v1/models lists our model on the asked port; stop the server and raise otherwise."""
        timeout = self.launch.ready_timeout if timeout is None else timeout
        deadline, offset = time.monotonic() + timeout, 0
        try:
            while True:
                offset = self._check_log(offset)
                if not self.alive():
                    raise UserError(f"swift deploy exited (status {self.proc.poll()}) before it answered; last lines "
                                    f"of {self.log}:\n{self.tail()}")
                try:
                    ids = ports.served_models(self.endpoint.base_url, self.launch.api_key, timeout=2.0)
                except OSError:
                    ids = None
                if ids is not None:
                    if self.launch.model in ids:
                        break
                    raise UserError(f"{self.endpoint.base_url} answers for {ids}, not for {self.launch.model}: another "
                                    f"server took port {self.launch.port}")
                if time.monotonic() > deadline:
                    raise UserError(f"swift deploy did not answer on {self.endpoint.base_url} within {timeout:.0f} s "
                                    f"(deploy.ready_timeout); last lines of {self.log}:\n{self.tail()}")
                time.sleep(0.5)
            self._check_listening()
        except BaseException:
            self.stop()
            raise
        return self.endpoint

    def _check_log(self, offset: int) -> int:
        try:
            with open(self.log, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except OSError:
            return offset
        end = chunk.rfind(b"\n") + 1  # only whole lines; the rest is read next time
        for line in chunk[:end].decode("utf-8", "replace").splitlines():
            for pattern in MOVED:
                m = pattern.search(line)
                if m and int(m.group(1)) != self.launch.port:
                    raise UserError(f"ms-swift moved the endpoint to port {m.group(1)} because {self.launch.port} was "
                                    f"taken after swiftplus checked it; stopped it. Free port {self.launch.port} or "
                                    "pick another with --port N")
        return offset + end

    def _check_listening(self) -> None:
        listening = ports.listening_ports(self.pgid)
        if listening is not None and self.launch.port not in listening:
            raise UserError(f"the deploy process does not listen on port {self.launch.port} (it listens on "
                            f"{sorted(listening) or 'nothing'}); stopped it")


def log_tail(path: Path, n: int = 25) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 65536))
            return f.read().decode("utf-8", "replace").splitlines()[-n:]
    except OSError:
        return []


# -- what eval and perf use -----------------------------------------------------------------------

def external_endpoint(recipe: Recipe, url: str) -> Endpoint:
    """A running endpoint given by URL (--endpoint): ask it which models it serves."""
    base = url.rstrip("/").removesuffix("/chat/completions")
    if not base.endswith("/v1"):
        base += "/v1"
    key = api_key_for(recipe)
    try:
        ids = ports.served_models(base, key)
    except OSError as e:
        raise UserError(f"--endpoint {url}: nothing answers at {base}/models ({e})") from None
    if not ids:
        raise UserError(f"--endpoint {url}: {base}/models lists no model")
    name = served_name(recipe)
    return Endpoint(base, name if name in ids else ids[0], key)


@contextmanager
def serving(recipe: Recipe, source: str | None = None, *, url: str | None = None, log_dir: Path | None = None,
            echo: bool = False) -> Iterator[Endpoint]:
    """An endpoint serving `source` for the duration of the block.

    Uses --endpoint URL, or this recipe's detached endpoint when it serves the same checkpoint;
    otherwise starts `swift deploy` on a free loopback port and stops its whole group when the block
    ends, however it ends (exception, Ctrl-C, SIGTERM).
    """
    if url:
        yield external_endpoint(recipe, url)
        return
    wanted = served_model(recipe, source)
    rec = read_record(recipe)
    if rec and rec["alive"] and (rec.get("model_path"), rec.get("adapters")) == (wanted.model, wanted.adapters):
        yield endpoint_from_record(rec, api_key_for(recipe))
        return
    launch = prepare(recipe, source, port=ports.free_port("127.0.0.1"), host="127.0.0.1")
    log = server_log(recipe, launch.port, log_dir)
    with interrupting_signals():
        server = Server(launch, log, echo=echo)
        try:
            yield server.wait_ready()
        finally:
            server.stop()
