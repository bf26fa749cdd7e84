"""`swiftplus doctor [RECIPE]`: this machine's versions, GPUs and disk; with a recipe, whether every stage's
needs are met (GPUs and processes, packages, device memory, disk)."""
from __future__ import annotations

import os
import shutil
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from swiftplus.core.gpus import visible
from swiftplus.doctor.run import doctor
from swiftplus.recipe.load import load_recipe

DISTS = ("ms-swift", "transformers", "torch", "torchvision", "evalscope", "safetensors", "vllm", "deepspeed",
         "flash-attn")
TESTED = {"torch": "2.14.0", "torchvision": "0.29.0", "vllm": "0.33.0", "deepspeed": "0.19.8",
          "flash-attn": "2.8.3.post2"}


def _version(dist: str) -> str:
    try:
        found = version(dist)
    except PackageNotFoundError:
        return "not installed"
    tested = TESTED.get(dist)
    return found if not tested or found.split("+")[0] == tested else f"{found} (tested: {tested})"


def machine() -> str:
    rows = [("python", sys.version.split()[0]), *((d, _version(d)) for d in DISTS),
            ("gpus", visible(os.environ).describe())]
    here = Path.cwd()
    rows.append(("free disk", f"{shutil.disk_usage(here).free / 2**30:.1f} GiB at {here}"))
    rows += [(k, os.environ[k]) for k in ("HF_HUB_OFFLINE", "MODELSCOPE_CACHE", "HF_HOME", "CUDA_VISIBLE_DEVICES")
             if k in os.environ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(args) -> int:
    print(machine())
    if not args.recipe:
        return 0
    print()
    return doctor(load_recipe(args.recipe, args.overrides))
