"""`swiftplus run RECIPE [--rehearse] [--resume] [--dry-run]`."""
from __future__ import annotations

from swiftplus.core.stages import REHEARSE, step_command
from swiftplus.core.tools import check_swift_version
from swiftplus.doctor.run import preflight, run_stages
from swiftplus.pipeline.run import run_pipeline
from swiftplus.recipe.load import load_recipe
from swiftplus.rehearse.run import rehearse


def main(args) -> int:
    check_swift_version()
    loaded = load_recipe(args.recipe, args.overrides)
    # the real run's preflight comes first: a machine that cannot run the recipe is told so in seconds, not after
    # a rehearsal of minutes (the rehearsal checks its own tiny recipe at each step)
    if not (args.dry_run or args.skip_preflight):
        preflight(loaded, run_stages(loaded.recipe))  # the endpoint eval starts, too: before any training
    if args.rehearse and not args.dry_run:
        rc = rehearse(loaded, ref=args.recipe)
        if rc != 0:
            print(f"swiftplus run: the rehearsal failed, so the real run does not start; fix what it names and run "
                  f"again (or rehearse alone: {step_command(args.recipe, REHEARSE)})", flush=True)
            return rc
        print("\n=== swiftplus run: rehearsal passed; the real run starts ===", flush=True)
    return run_pipeline(loaded, ref=args.recipe, resume=args.resume, dry_run=args.dry_run)
