"""`swiftplus deploy`: serve in the foreground until Ctrl-C, or detached with a record `--stop` finds."""
from __future__ import annotations

from swiftplus.core.errors import UserError
from swiftplus.core.process import interrupting_signals
from swiftplus.core.stages import DEPLOY, step_command
from swiftplus.recipe.schema import Recipe
from swiftplus.serve.endpoint import Endpoint, read_record, write_record
from swiftplus.serve.server import Server, prepare, refuse_busy_port, server_log


def banner(endpoint: Endpoint, what: str) -> str:
    key = " (API key required)" if endpoint.api_key else ""
    return (f"endpoint ready{key}: {endpoint.base_url}  model: {endpoint.model}  serving: {endpoint.source} "
            f"{endpoint.adapters or endpoint.model_path}\n{what}")


def deploy(recipe: Recipe, source: str | None = None, port: int | None = None, *, detach: bool = False) -> int:
    """Serve until Ctrl-C, or (detach) start, wait until it answers, record it and return."""
    planned = prepare(recipe, source, port)
    log = server_log(recipe, planned.port)
    if detach:
        rec = read_record(recipe)
        if rec and rec["alive"]:
            raise UserError(f"an endpoint of {recipe.name} already runs detached at {rec['base_url']} (pid {rec['pid']}); "
                            f"stop it first with `{step_command(recipe.ref, DEPLOY, '--stop')}`")
    refuse_busy_port(planned, recipe)
    with interrupting_signals():
        server = Server(planned, log, detach=detach, echo=not detach)
        if detach:
            try:
                endpoint = server.wait_ready()
                record = write_record(recipe, server)
            except BaseException:  # a detached server nobody recorded could never be stopped with --stop
                server.stop()
                raise
            print(banner(endpoint, f"running detached (pid {server.pid}, log {log}, record {record}); "
                                   f"stop it with `{step_command(recipe.ref, DEPLOY, '--stop')}`"), flush=True)
            return 0
        try:
            endpoint = server.wait_ready()
            print(banner(endpoint, "Ctrl-C stops it"), flush=True)
            rc = server.wait()
        finally:
            server.stop()
    if rc != 0:
        raise UserError(f"swift deploy exited with status {rc}; last lines of {log}:\n{server.tail()}")
    return 0
