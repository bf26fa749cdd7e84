"""Stage-1 training throughput on one GPU: swiftplus's generated `swift sft` command against seed 000's literal
one, side by side in one run.

Both train the same tiny-but-real-width model (Qwen2.5-VL-7B's vision and widths grafted with Qwen3-8B's,
`--layers` decoder layers, random bf16 weights) on the same data (the shapes task at 448 px, so each row
carries a real number of image tokens), for the same number of steps, each in its own process on GPU 0.
Throughput is the Trainer's own count of non-padding tokens (include_num_input_tokens_seen non_padding) over
its train_runtime. Packing, padding-free batches and the freeze settings are where a faster stage-1 default
can come from: --variants adds our command with padding_free and with packing.

The seed's command is used as written except where it cannot run as is: its placeholders (model, dataset,
output_dir), its launcher (one node, one GPU) and the flag ms-swift 4.6 renamed (train_type -> tuner_type).
Both commands get the same measurement flags (max_steps, no checkpoint saves, token counting, no reporting).

    python benchmarks/gpu_train.py [--steps 20] [--layers 2] [--rows 256] [--workdir DIR] [--variants] [--keep]

Without CUDA it builds everything, prints both commands and stops with exit status 2.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEEDS = Path(os.environ.get("SWIFTPLUS_SEEDS", "/work/shared/seeds"))
MEASURE = {"max_steps": None, "save_strategy": "no", "include_num_input_tokens_seen": "non_padding",
           "logging_steps": 1, "report_to": "none", "add_version": "false"}
SEED_FIXES = {"train_type": "tuner_type"}  # flags ms-swift 4.6 renamed


def seed_000_stage1(path: Path | None = None) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(environment, [(flag, value)]) of seed 000's stage-1 command, as its text writes them."""
    path = path or next(iter(sorted(SEEDS.glob("000_*.txt"))), None)
    if path is None or not path.is_file():
        raise SystemExit(f"seed 000 not found under {SEEDS} (set SWIFTPLUS_SEEDS)")
    text = path.read_text(encoding="utf-8")
    block = text[text.index("Stage 1: Train Aligner Layer"):text.index("Stage 2: Full Model Training")]
    lines = [line.strip().rstrip("\\").strip() for line in block.splitlines()]
    env, flags, in_command = {}, [], False
    for line in lines:
        if line == "swift sft":
            in_command = True
        elif not in_command and re.match(r"^[A-Z_]+=\S+$", line):
            key, value = line.split("=", 1)
            env[key] = value
        elif in_command and line.startswith("--"):
            name, _, value = line[2:].partition(" ")
            flags.append((name, value.strip()))
    if not flags:
        raise SystemExit(f"{path}: no `swift sft` command under 'Stage 1: Train Aligner Layer'")
    return env, flags


def seed_command(swift: str, model: Path, data: Path, out: Path, steps: int) -> tuple[list[str], dict[str, str]]:
    env, flags = seed_000_stage1()
    fixed = {"model": str(model), "dataset": str(data), "output_dir": str(out)}
    argv = [swift, "sft"]
    for name, value in flags:
        argv += [f"--{SEED_FIXES.get(name, name)}", fixed.get(name, value)]
    argv += _measure(steps)
    env = {k: v for k, v in env.items() if k not in ("NNODES", "NODE_RANK", "CUDA_VISIBLE_DEVICES")}
    return argv, {**env, "NPROC_PER_NODE": "1", "CUDA_VISIBLE_DEVICES": "0"}


def our_command(swift: str, model: Path, data: Path, run_dir: Path, steps: int,
                extra: dict | None = None) -> tuple[list[str], dict[str, str]]:
    """qwen3-8b-vl's stage 1, as `swiftplus plan` prints it, on this model and data (datasets converted by the
    training gate, as `swiftplus train` does)."""
    from swiftplus.core.stages import STAGE1
    from swiftplus.data.prepare import prepare_datasets
    from swiftplus.recipe.load import load_recipe
    from swiftplus.train.command import sft_argv, sft_env

    sets = [f"run_dir={run_dir}", f"stage1.dataset=[{{path: {data}, format: swift}}]", "stage1.env.NPROC_PER_NODE=1"]
    sets += [f"stage1.{k}={v}" for k, v in (extra or {}).items()]
    recipe = load_recipe("qwen3-8b-vl", sets).recipe
    root = run_dir / STAGE1
    prepare_datasets(recipe, STAGE1, root, root, str(model), {})
    argv = sft_argv(recipe, STAGE1, str(model), swift) + _measure(steps)
    return argv, {**sft_env(recipe, STAGE1, {"NPROC_PER_NODE": "1"}), "CUDA_VISIBLE_DEVICES": "0"}


def _measure(steps: int) -> list[str]:
    from swiftplus.core.argv import flag_args

    return flag_args({**MEASURE, "max_steps": steps})  # later flags win in ms-swift's parser: same for every command


def setup(work: Path, layers: int, rows: int) -> tuple[Path, Path]:
    """The grafted real-width model and the training rows."""
    from benchmarks.graft import build_pair
    from swiftplus.data.synthetic import generate
    from swiftplus.graft import graft

    model = work / "graft"
    if not (model / "swiftplus_graft.json").is_file():
        template, donor = build_pair(work / "models", layers, vision_depth=4)
        graft(template, donor, model, proof=False, allow_dropped=["*.q_norm.weight", "*.k_norm.weight"],
              log=lambda s: None)
        shutil.rmtree(work / "models", ignore_errors=True)
    task = generate(work / "task", train=rows, evaluate=4, size=448)
    return model, task.train


def run(name: str, argv: list[str], env: dict[str, str], log: Path) -> dict:
    started = time.time()
    with open(log, "w") as f:
        rc = subprocess.run(argv, env={**os.environ, **env}, stdout=f, stderr=subprocess.STDOUT).returncode
    wall = time.time() - started
    if rc != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        return {"name": name, "error": f"exit status {rc}; last lines of {log}:\n  " + "\n  ".join(tail)}
    out = argv[argv.index("--output_dir") + 1]
    summary, tokens = {}, 0
    for f in glob.glob(f"{out}/**/logging.jsonl", recursive=True):
        for line in Path(f).read_text().splitlines():
            row = json.loads(line)
            tokens = max(tokens, int(row.get("num_input_tokens_seen", 0) or 0))
            if "train_runtime" in row:
                summary = row
    runtime = float(summary.get("train_runtime", wall))
    return {"name": name, "tokens": tokens, "runtime_s": runtime, "tokens_per_s": tokens / runtime if runtime else 0,
            "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--layers", type=int, default=2, help="decoder layers of the real-width model")
    p.add_argument("--rows", type=int, default=256)
    p.add_argument("--workdir", type=Path)
    p.add_argument("--variants", action="store_true", help="also ours with padding_free, and with packing")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="swiftplus-gpu-train-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        from swiftplus.core.process import swift_executable

        swift = swift_executable()
        t0 = time.time()
        model, data = setup(work, args.layers, args.rows)
        print(f"setup: {model} ({args.layers} decoder layers at Qwen3-8B width), {args.rows} rows of {data} "
              f"({time.time() - t0:.0f} s)", flush=True)
        commands = {"seed 000 (literal)": seed_command(swift, model, data, work / "seed" / "output", args.steps),
                    "swiftplus stage1": our_command(swift, model, data, work / "ours", args.steps)}
        if args.variants:
            commands["swiftplus + padding_free"] = our_command(swift, model, data, work / "ours-pf", args.steps,
                                                               {"padding_free": "true"})
            commands["swiftplus + packing"] = our_command(swift, model, data, work / "ours-pack", args.steps,
                                                          {"packing": "true"})
        for name, (cmd, env) in commands.items():
            print(f"\n# {name}\n{' '.join(f'{k}={v}' for k, v in env.items())} {' '.join(cmd)}", flush=True)
        import torch

        if not torch.cuda.is_available():
            print("\ngpu_train: needs a CUDA GPU and none is visible (torch.cuda.is_available() is False); the setup "
                  "above ran, nothing was trained. Run it on a GPU machine: make gpu-test", file=sys.stderr)
            return 2
        results = [run(name, cmd, env, work / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}.log")
                   for name, (cmd, env) in commands.items()]
        report(results)
        return 1 if any("error" in r for r in results) else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def report(results: list[dict]) -> None:
    print(f"\n{'command':<28}{'tokens':>10}{'seconds':>10}{'tokens/s':>12}{'vs seed':>10}")
    base = next((r["tokens_per_s"] for r in results if "error" not in r and r["name"].startswith("seed")), None)
    for r in results:
        if "error" in r:
            print(f"{r['name']:<28}  failed: {r['error']}")
            continue
        ratio = f"{r['tokens_per_s'] / base:.2f}x" if base else "-"
        print(f"{r['name']:<28}{r['tokens']:>10}{r['runtime_s']:>10.1f}{r['tokens_per_s']:>12.0f}{ratio:>10}")


if __name__ == "__main__":
    raise SystemExit(main())
