"""`swiftplus run RECIPE`: every stage of the recipe in order; finished stages are reused.

graft -> stage1 -> stage2 -> lora -> export, then the evaluation (which starts and stops its own
endpoints), then a run report. Each step is the same function its own verb calls, so `run` adds
ordering, progress and reuse, nothing else.
"""
from __future__ import annotations

import time

from swiftplus.core import runs, stages
from swiftplus.core.errors import UserError
from swiftplus.data import synthetic
from swiftplus.evaluate import results
from swiftplus.evaluate import run as evaluation
from swiftplus.export.run import run_export
from swiftplus.graft.recipe import graft_recipe
from swiftplus.pipeline.plan import plan, render
from swiftplus.pipeline.report import eval_fingerprint, write_report
from swiftplus.recipe.load import LoadedRecipe
from swiftplus.train.run import run_stage


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


def run_pipeline(loaded: LoadedRecipe, *, ref: str, resume: bool = False, dry_run: bool = False) -> int:
    recipe = loaded.recipe
    built = stages.present(recipe, stages.BUILD)
    if dry_run:
        print(render(plan(loaded, built + stages.present(recipe, (stages.EVAL,)))))
        return 0
    steps = built + stages.present(recipe, (stages.EVAL,)) + ["report"]
    progress = Progress(steps)
    print(device_line(recipe), flush=True)
    if recipe.synthetic is not None:
        task = synthetic.ensure(recipe)
        print(f"synthetic task: {task.train} and {task.eval_dir}", flush=True)
    for stage in built:
        progress.begin(stage)
        rc = build(loaded, stage, ref=ref, resume=resume)
        if rc != 0:
            print(f"swiftplus run: {stage} failed (exit status {rc}); fix it and run again: finished stages are "
                  "reused", flush=True)
            return rc
    rows = None
    if recipe.eval is not None:
        progress.begin(stages.EVAL)
        rows = evaluate(recipe)
    progress.begin("report")
    path = write_report(recipe, rows, seconds=progress.elapsed())
    print(f"\nrun report: {path} ({progress.elapsed():.0f} s in all)")
    if recipe.deploy is not None:
        print(f"serve it: {stages.step_command(ref, stages.DEPLOY)}")
    return 0


def device_line(recipe) -> str:
    """What the recipe runs on, said before anything starts."""
    chosen = recipe.env.get("CUDA_VISIBLE_DEVICES")
    if chosen is None:
        return "devices: the GPUs CUDA_VISIBLE_DEVICES leaves visible (the recipe does not choose)"
    if str(chosen).strip() in ("", "-1"):
        return f"device: CPU (the recipe hides every GPU: CUDA_VISIBLE_DEVICES={str(chosen)!r})"
    return f"devices: GPUs {chosen} (CUDA_VISIBLE_DEVICES from the recipe)"


def build(loaded: LoadedRecipe, stage: str, *, ref: str, resume: bool = False) -> int:
    if stage == stages.GRAFT:
        return graft_recipe(loaded.recipe)
    if stage == stages.EXPORT:
        return run_export(loaded, ref=ref)
    return run_stage(loaded, stage, resume=resume, ref=ref)


def evaluate(recipe):
    """The recipe's comparison (eval.compare) or its deploy default; reused while nothing it reads changed."""
    sources = list(recipe.eval.compare) or [None]
    fingerprint = eval_fingerprint(recipe, sources)
    saved_file = runs.eval_dir(recipe) / "results.json"
    saved = runs.read_json(saved_file) if saved_file.is_file() else None
    if isinstance(saved, dict) and saved.get("fingerprint") == fingerprint:
        print("evaluation: reusing results for unchanged checkpoints and settings "
              f"({saved_file}); `swiftplus eval` re-runs it", flush=True)
        rows = results.load_results(saved_file)
        print(results.pivot(rows))
        return rows
    rows = evaluation.evaluate(recipe, sources, meta={"fingerprint": fingerprint})
    for line in results.failures(rows):
        print(f"warning: {line}")
    if not rows:
        raise UserError("the evaluation produced no scores")
    print(results.pivot(rows))
    return rows
