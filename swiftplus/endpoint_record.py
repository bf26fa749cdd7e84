"""The record of a detached endpoint: runs/<name>/deploy/server.json, trusted only while its process lives.

The pid's start time is recorded too, so a later process that merely got the same pid is never taken
for the server (and never killed by `--stop`).
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from swiftplus import runs
from swiftplus.recipe_schema import Recipe

if TYPE_CHECKING:
    from swiftplus.deploy import Endpoint, Server

RECORD = "server.json"


def record_path(recipe: Recipe) -> Path:
    return runs.run_root(recipe) / "deploy" / RECORD


def _start_time(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:
        return None


def read_record(recipe: Recipe) -> dict | None:
    """The detached endpoint of this recipe, if one is recorded and its process is still the one recorded."""
    path = record_path(recipe)
    data = _read_json(path)
    if not data:
        return None
    pid = data.get("pid")
    try:
        alive = isinstance(pid, int) and os.getpgid(pid) == data.get("pgid")
    except ProcessLookupError:
        alive = False
    if alive and data.get("create_time") is not None and _start_time(pid) != data["create_time"]:
        alive = False  # the pid was reused by another process
    data["alive"] = alive
    return data


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_record(recipe: Recipe, server: "Server") -> Path:
    path = record_path(recipe)
    data = {**asdict(server.endpoint), "pgid": server.pgid, "host": server.launch.host, "argv": server.launch.argv,
            "create_time": _start_time(server.pid), "machine": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    runs.write_json_atomic(path, data)
    return path


def stop_recorded(recipe: Recipe) -> str:
    """Stop this recipe's detached endpoint; returns what happened, for the user."""
    from swiftplus.process import group_running, kill_group

    path = record_path(recipe)
    rec = read_record(recipe)
    if rec is None:
        return f"no detached endpoint is recorded for {recipe.name} ({path} does not exist)"
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


def endpoint_from_record(rec: dict) -> "Endpoint":
    from swiftplus.deploy import Endpoint

    keys = Endpoint.__dataclass_fields__
    return Endpoint(**{k: v for k, v in rec.items() if k in keys})
