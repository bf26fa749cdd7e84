"""An endpoint (what a client needs to talk to it) and the record of a detached one.

runs/<name>/deploy/server.json is trusted only while its process lives. The pid's start time is recorded
too, so a later process that merely got the same pid is never taken for the server (and never killed
by `--stop`). It describes a live process, so its paths are absolute; the run directory it was written for
is recorded as well, so a copy of the run never takes the original's endpoint for its own (nor stops it).
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from swiftplus.core import runs
from swiftplus.core.process import group_running, kill_group
from swiftplus.recipe.schema import Recipe


@dataclass
class Endpoint:
    """An OpenAI-compatible endpoint: what a client needs, and where it came from."""

    base_url: str  # http://127.0.0.1:8000/v1
    model: str  # the served model name clients send
    api_key: str | None = None
    source: str = "external"  # graft | stage1 | stage2 | lora | export | path | external
    model_path: str | None = None  # the checkpoint (or base model, for adapters) being served
    adapters: str | None = None
    port: int | None = None
    pid: int | None = None
    log: str | None = None


def _start_time(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:
        return None


def read_record(recipe: Recipe) -> dict | None:
    """The detached endpoint of this recipe, if one is recorded and its process is still the one recorded."""
    data = runs.read_json(runs.server_record(recipe))
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    try:
        alive = isinstance(pid, int) and os.getpgid(pid) == data.get("pgid")
    except ProcessLookupError:
        alive = False
    if alive and data.get("create_time") is not None and _start_time(pid) != data["create_time"]:
        alive = False  # the pid was reused by another process
    data["other_run"] = _other_run(recipe, data)
    data["alive"] = alive and data["other_run"] is None
    return data


def _other_run(recipe: Recipe, data: dict) -> str | None:
    """The run directory a copied record was written for, when that is not this one."""
    written_for = data.get("run_dir")
    return written_for if isinstance(written_for, str) and written_for != runs.absolute_run_dir(recipe) else None


def write_record(recipe: Recipe, server) -> Path:
    """The record `--stop`, eval and perf find a detached endpoint (a server.Server) by. The API key is not
    written: clients take it from the recipe or SWIFTPLUS_API_KEY, as the server did."""
    path = runs.server_record(recipe)
    data = {**asdict(server.endpoint), "api_key": None, "pgid": server.pgid, "host": server.launch.host,
            "run_dir": runs.absolute_run_dir(recipe),
            "argv": server.launch.argv, "create_time": _start_time(server.pid), "machine": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    runs.write_json_atomic(path, data)
    return path


def stop_recorded(recipe: Recipe) -> str:
    """Stop this recipe's detached endpoint; returns what happened, for the user."""
    path = runs.server_record(recipe)
    rec = read_record(recipe)
    if rec is None:
        return f"no detached endpoint is recorded for {recipe.name} ({path} does not exist)"
    if rec["other_run"]:
        path.unlink(missing_ok=True)
        return (f"{path} was copied from {rec['other_run']} and records that run's endpoint, which is left alone; "
                f"removed the copy's record")
    if not rec["alive"]:
        pgid = rec.get("pgid")
        left = isinstance(pgid, int) and rec.get("machine") == socket.gethostname() and group_running(pgid)
        if left:
            kill_group(pgid)  # the server exited, but processes it started (workers, engines) still hold on
        path.unlink(missing_ok=True)
        if left:
            return f"the endpoint recorded in {path} had exited; stopped what was left of its process group {pgid}"
        return f"the endpoint recorded in {path} (pid {rec.get('pid')}) is no longer running; removed the record"
    kill_group(rec["pid"])
    path.unlink(missing_ok=True)
    return f"stopped the endpoint at {rec['base_url']} (pid {rec['pid']}, model {rec['model']})"


def endpoint_from_record(rec: dict, api_key: str | None = None) -> Endpoint:
    keys = Endpoint.__dataclass_fields__
    return Endpoint(**{**{k: v for k, v in rec.items() if k in keys}, "api_key": api_key or rec.get("api_key")})
