"""`swiftplus deploy RECIPE [--from SRC] [--port N] [--detach | --stop]`."""
from __future__ import annotations

from swiftplus import deploy
from swiftplus.argv import shell_line
from swiftplus.errors import UserError
from swiftplus.recipe import load_recipe


def banner(endpoint: deploy.Endpoint, what: str) -> str:
    key = " (API key required)" if endpoint.api_key else ""
    return (f"endpoint ready{key}: {endpoint.base_url}  model: {endpoint.model}  serving: {endpoint.source} "
            f"{endpoint.adapters or endpoint.model_path}\n{what}")


def main(args) -> int:
    loaded = load_recipe(args.recipe, args.overrides)
    recipe = loaded.recipe
    if args.stop:
        if args.detach:
            raise UserError("--stop and --detach contradict each other; use one")
        print(deploy.stop_recorded(recipe))
        return 0
    launch = deploy.prepare(recipe, args.source, args.port)
    if args.dry_run:
        print(shell_line(launch.argv, launch.env).replace(" --", " \\\n    --"))
        return 0
    log = deploy.server_log(recipe, launch.port)
    if args.detach:
        rec = deploy.read_record(recipe)
        if rec and rec["alive"]:
            raise UserError(f"an endpoint of {recipe.name} already runs detached at {rec['base_url']} (pid {rec['pid']}); "
                            f"stop it first with `swiftplus deploy {recipe.name} --stop`")
    deploy.refuse_busy_port(launch, recipe)
    from swiftplus.process import interrupting_signals

    with interrupting_signals():
        server = deploy.Server(launch, log, detach=args.detach, echo=not args.detach)
        if args.detach:
            try:
                endpoint = server.wait_ready()
                record = deploy.write_record(recipe, server)
            except BaseException:  # a detached server nobody recorded could never be stopped with --stop
                server.stop()
                raise
            print(banner(endpoint, f"running detached (pid {server.pid}, log {log}, record {record}); "
                                   f"stop it with `swiftplus deploy {recipe.name} --stop`"), flush=True)
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
