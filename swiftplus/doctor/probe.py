"""The doctor's I/O: model configs (local checkpoints, the hub caches, fixtures, known_models), packages
(find_spec, nothing imported), free disk, host memory. Each answer is cheap: no weights are read and no
tool is imported, so a preflight takes seconds."""
from __future__ import annotations

import importlib.util
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from swiftplus.core.configs import config_if_present
from swiftplus.core.errors import UserError
from swiftplus.core.hub import is_hub_id
from swiftplus.doctor.checks import Space
from swiftplus.doctor.known_models import CONFIGS
from swiftplus.doctor.models import ModelInfo

FIXTURE = "fixture:"
WEIGHTS = ("*.safetensors", "*.bin")


def modelscope_cache(environ: Mapping[str, str]) -> Path:
    """modelscope.utils.file_utils.get_modelscope_cache_dir: MODELSCOPE_CACHE or ~/.cache/modelscope/hub."""
    return Path(environ.get("MODELSCOPE_CACHE") or Path.home() / ".cache" / "modelscope" / "hub").expanduser()


def hf_cache(environ: Mapping[str, str]) -> Path:
    if environ.get("HF_HUB_CACHE"):
        return Path(environ["HF_HUB_CACHE"]).expanduser()
    return Path(environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser() / "hub"


def hub_cache(hub: str, environ: Mapping[str, str]) -> Path:
    return hf_cache(environ) if hub == "hf" else modelscope_cache(environ)


def cached_copy(ref: str, environ: Mapping[str, str]) -> Path | None:
    """A downloaded snapshot of hub id `ref` with its weights, in either hub's cache."""
    org, name = ref.split("/", 1)
    ms = modelscope_cache(environ)
    candidates = [ms / "models" / org / name, ms / "models" / org / name.replace(".", "___"), ms / org / name]
    candidates += sorted((hf_cache(environ) / f"models--{org}--{name}" / "snapshots").glob("*"))
    for c in candidates:
        if (c / "config.json").is_file() and weight_bytes(c):
            return c
    return None


def weight_bytes(directory: Path) -> float:
    return float(sum(p.stat().st_size for pattern in WEIGHTS for p in Path(directory).glob(pattern)))


def fixture_config(name: str) -> dict | None:
    """A fixture's config.json as it would be written (no weights are built)."""
    from swiftplus.fixtures.builder import (
        resolve,  # imports the fixture's module only, not torch
    )

    try:
        module, dims = resolve(name, {})
    except UserError:
        return None
    return module.config(dims)


def model_info(ref: str | Path, hub: str, environ: Mapping[str, str]) -> ModelInfo:
    """A Path is only ever local (a stage's output); a string may be a fixture, a path or a hub id."""
    if isinstance(ref, Path) or not is_hub_id(ref):
        if isinstance(ref, str) and ref.startswith(FIXTURE):
            return ModelInfo(ref, fixture_config(ref.removeprefix(FIXTURE)), "fixture")
        path = Path(ref).expanduser()
        if not path.exists():
            return ModelInfo(str(ref), None, "not there yet")
        return ModelInfo(str(ref), config_if_present(path), "local")
    ref = str(ref)
    copy = cached_copy(ref, environ)
    if copy is not None:
        return ModelInfo(ref, config_if_present(copy), "hub cache")
    target = hub_cache(hub, environ)
    if ref in CONFIGS:
        return ModelInfo(ref, CONFIGS[ref], "known table", download=target)
    return ModelInfo(ref, None, "unknown hub model", download=target)


def lookup_for(hub: str, environ: Mapping[str, str]):
    @lru_cache(maxsize=None)
    def lookup(ref: str) -> ModelInfo:
        return model_info(ref, hub, environ)

    return lookup


def importable(modules: Iterable[str]) -> dict[str, bool]:
    out = {}
    for module in modules:
        try:
            out[module] = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            out[module] = False
    return out


def nearest_existing(path: Path) -> Path:
    path = Path(path).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def space(paths: Iterable[Path]) -> dict[Path, Space]:
    out = {}
    for p in paths:
        here = nearest_existing(p)
        out[p] = Space(os.stat(here).st_dev, float(shutil.disk_usage(here).free), str(here))
    return out


def host_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0.0
