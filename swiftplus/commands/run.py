"""`swiftplus run RECIPE`: every stage of the recipe in order; finished stages are reused.

graft -> stage1 -> stage2 -> lora -> export, then the evaluation (which starts and stops its own
endpoints), then a run report. Each step is the same function its own verb calls, so `run` adds
ordering, progress and reuse, nothing else.
"""
from __future__ import annotations

import time

from swiftplus.errors import UserError

BUILD_STAGES = ("graft", "stage1", "stage2", "lora", "export")


class Progress:
    def __init__(self, steps: list[str]):
        self.steps, self.started, self.index = steps, time.time(), 0

    def begin(self, name: str) -> None:
        self.index += 1
        elapsed = time.time() - self.started
        print(f"\n=== swiftplus run: [{self.index}/{len(self.steps)}] {name} "
              f"(elapsed {elapsed // 60:.0f}m{elapsed % 60:02.0f}s) ===", flush=True)

    def elapsed(self) -> float:
        return time.time() - self.started


def main(args) -> int:
    from swiftplus import synthetic
    from swiftplus.recipe import load_recipe
    from swiftplus.versions import check_swift_version

    check_swift_version()
    loaded = load_recipe(args.recipe, args.overrides)
    recipe = loaded.recipe
    stages = [s for s in BUILD_STAGES if getattr(recipe, s) is not None]
    steps = stages + (["eval"] if recipe.eval is not None else []) + ["report"]
    if args.dry_run:
        from swiftplus.plan import plan, render

        print(render(plan(loaded, [s for s in stages + ["eval"] if getattr(recipe, s) is not None])))
        return 0
    progress = Progress(steps)
    if recipe.synthetic is not None:
        task = synthetic.ensure(recipe)
        print(f"synthetic task: {task.train} and {task.eval_dir}", flush=True)
    for stage in stages:
        progress.begin(stage)
        rc = _build(loaded, stage, args)
        if rc != 0:
            print(f"swiftplus run: {stage} failed (exit status {rc}); fix it and run again: finished stages are "
                  "reused", flush=True)
            return rc
    rows = None
    if recipe.eval is not None:
        progress.begin("eval")
        rows = _evaluate(recipe)
    progress.begin("report")
    from swiftplus.run_report import write_report

    path = write_report(recipe, rows, seconds=progress.elapsed())
    print(f"\nrun report: {path} ({progress.elapsed():.0f} s in all)")
    if recipe.deploy is not None:
        print(f"serve it: swiftplus deploy {args.recipe}")
    return 0


def _build(loaded, stage: str, args) -> int:
    recipe = loaded.recipe
    if stage == "graft":
        from swiftplus.commands.graft import graft_recipe

        return graft_recipe(recipe)
    if stage == "export":
        from swiftplus.export import run_export

        return run_export(loaded, ref=args.recipe)
    from swiftplus.train import run_stage

    return run_stage(loaded, stage, resume=args.resume, ref=args.recipe)


def _evaluate(recipe):
    """The recipe's comparison (eval.compare) or its deploy default; reused while nothing it reads changed."""
    from swiftplus import evaluate
    from swiftplus.run_report import eval_fingerprint, pivot

    sources = list(recipe.eval.compare) or [None]
    fingerprint = eval_fingerprint(recipe, sources)
    results = evaluate.eval_dir(recipe) / "results.json"
    if results.is_file():
        import json

        saved = json.loads(results.read_text())
        if saved.get("fingerprint") == fingerprint:
            print("evaluation: reusing results for unchanged checkpoints and settings "
                  f"({results}); `swiftplus eval` re-runs it", flush=True)
            rows = evaluate.load_results(results)
            print(pivot(rows))
            return rows
    rows = evaluate.evaluate(recipe, sources, meta={"fingerprint": fingerprint})
    bad = evaluate.failures(rows)
    for line in bad:
        print(f"warning: {line}")
    if not rows:
        raise UserError("the evaluation produced no scores")
    print(pivot(rows))
    return rows
