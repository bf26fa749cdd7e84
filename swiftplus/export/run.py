"""Merge a LoRA stage's adapters into a full model with `swift export`, into runs/<name>/export/output.

swift export refuses an existing output_dir, and a merge cut off half-way must never look like a model:
it writes into output.partial, which is renamed to output only once the merged checkpoint is whole; the
completion marker comes last, as for a training stage.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from swiftplus.core import checkpoints, process, runs
from swiftplus.core.argv import shell_line
from swiftplus.core.errors import UserError
from swiftplus.core.stages import EXPORT, step_command
from swiftplus.core.tools import versions
from swiftplus.export.command import (
    adapters_source,
    export_argv,
    export_env,
    export_section,
)
from swiftplus.recipe.load import LoadedRecipe


def run_export(loaded: LoadedRecipe, *, dry_run: bool = False, ref: str | None = None) -> int:
    recipe, ref = loaded.recipe, ref or str(loaded.path)
    section = export_section(recipe)
    if not section.merge_lora:
        raise UserError("export.merge_lora is false: then there is nothing for `swiftplus export` to do "
                        "(deploy.from: lora serves the adapters directly)")
    root = runs.stage_dir(recipe, EXPORT)
    done = runs.read_complete(root)
    if done:
        print(f"export is already complete ({done.get('checkpoint')}); nothing to do. To merge again, delete {root}")
        return 0
    adapters, resolved = adapters_source(recipe)
    if not resolved:
        raise UserError(f"export merges {section.from_}'s adapters, but {section.from_} is not complete. "
                        f"Train it first: {step_command(ref, section.from_)}")
    if not (Path(adapters) / "adapter_config.json").is_file():
        raise UserError(f"export: {adapters} holds no LoRA adapters (no adapter_config.json); export merges a "
                        f"LoRA stage (tuner_type lora). A full-tuned checkpoint is already a model: deploy it.")
    final, partial = runs.output_dir(recipe, EXPORT), runs.partial_dir(recipe, EXPORT)
    argv = export_argv(recipe, adapters, process.swift_executable())
    env = export_env(recipe)
    if dry_run:
        print("# export (dry run: nothing is started)\n" + shell_line(argv, env).replace(" --", " \\\n    --"))
        return 0
    for leftover in (partial, final):  # an interrupted earlier merge; never trusted
        shutil.rmtree(leftover, ignore_errors=True)
    runs.write_record(root, recipe_data=loaded.data, argv=argv, env=runs.recorded_env(env, dict(os.environ)),
                      versions=versions(), inputs=runs.input_hashes(adapters, [], recipe))
    log = root / "export.log"
    print(f"swiftplus: merging {adapters} -> {final} (log: {log})", flush=True)
    rc, _ = process.run(argv, env=env, log=log)
    if rc != 0:
        print(f"swiftplus: export failed: swift exited with {rc}; see {log}", flush=True)
        return rc if rc > 0 else 128 - rc
    missing = checkpoints.missing_files(partial)
    if missing:
        raise UserError(f"swift export exited 0 but {partial} lacks {', '.join(missing)}; see {log}")
    partial.replace(final)
    runs.mark_complete(root, {"stage": EXPORT, "checkpoint": runs.record_path(recipe, final),
                              "adapters": runs.record_path(recipe, adapters),
                              "completed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    print(f"swiftplus: export complete: {final}", flush=True)
    return 0
