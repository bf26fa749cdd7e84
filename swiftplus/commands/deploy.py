"""`swiftplus deploy RECIPE [--from SRC] [--port N] [--detach | --stop]`."""
from __future__ import annotations

from swiftplus.core.argv import shell_line
from swiftplus.core.errors import UserError
from swiftplus.core.stages import DEPLOY
from swiftplus.doctor.run import preflight
from swiftplus.recipe.load import load_recipe
from swiftplus.serve import endpoint, server
from swiftplus.serve.run import deploy


def main(args) -> int:
    loaded = load_recipe(args.recipe, args.overrides)
    recipe = loaded.recipe
    if args.stop and args.detach:
        raise UserError("--stop and --detach contradict each other; use one")
    if args.stop:
        print(endpoint.stop_recorded(recipe))
        return 0
    if args.dry_run:
        planned = server.prepare(recipe, args.source, args.port)
        print(shell_line(planned.argv, planned.env).replace(" --", " \\\n    --"))
        return 0
    if not args.skip_preflight:
        preflight(loaded, [DEPLOY], source=args.source)
    return deploy(recipe, args.source, args.port, detach=args.detach)
