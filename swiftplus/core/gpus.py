"""The GPUs this process would see, read from CUDA_VISIBLE_DEVICES and `nvidia-smi`, never from torch.

Importing torch to count devices takes seconds and initialises CUDA in the parent of every launch; the
driver's own tool answers in milliseconds and is what a user would check by hand. Parsing is pure (tested
with captured output); `visible()` is the one call that runs nvidia-smi, once per CUDA_VISIBLE_DEVICES.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

QUERY = ["nvidia-smi", "--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"]


@dataclass(frozen=True)
class Gpu:
    index: int
    uuid: str
    name: str
    memory_mib: int


@dataclass(frozen=True)
class Gpus:
    devices: tuple[Gpu, ...]  # the ones this process may use, in CUDA order
    source: str  # how they were found, for messages

    @property
    def count(self) -> int:
        return len(self.devices)

    @property
    def min_memory_gib(self) -> float | None:
        return min(g.memory_mib for g in self.devices) / 1024 if self.devices else None

    def describe(self) -> str:
        if not self.devices:
            return f"none ({self.source})"
        names = sorted({f"{g.name} {g.memory_mib / 1024:.0f} GiB" for g in self.devices})
        return f"{self.count} x {', '.join(names)} ({self.source})"


def parse_smi(text: str) -> list[Gpu]:
    """`nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits` -> GPUs."""
    out = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        try:
            out.append(Gpu(int(parts[0]), parts[1], ",".join(parts[2:-1]), int(float(parts[-1]))))
        except ValueError:
            continue
    return out


def select(cuda_visible: str | None, installed: list[Gpu] | None) -> tuple[Gpu, ...] | int:
    """The devices CUDA_VISIBLE_DEVICES leaves visible. CUDA reads the list up to its first invalid entry;
    without nvidia-smi only the count of entries is known (returned as an int)."""
    if cuda_visible is None:
        return tuple(installed or ())
    entries = []
    for raw in cuda_visible.split(","):
        entry = raw.strip()
        if not entry or entry.startswith("-"):
            break
        entries.append(entry)
    if installed is None:
        return len(entries)
    by_index = {str(g.index): g for g in installed}
    chosen = []
    for entry in entries:
        gpu = by_index.get(entry) or next((g for g in installed if g.uuid.startswith(entry)), None)
        if gpu is None or gpu in chosen:
            break
        chosen.append(gpu)
    return tuple(chosen)


@lru_cache(maxsize=8)
def _smi() -> tuple[list[Gpu] | None, str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None, "nvidia-smi not found"
    try:
        out = subprocess.run([exe, *QUERY[1:]], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"nvidia-smi failed: {e}"
    if out.returncode != 0:
        return None, f"nvidia-smi exited {out.returncode}: {(out.stderr or out.stdout).strip()[:200]}"
    return parse_smi(out.stdout), "nvidia-smi"


def visible(environ: Mapping[str, str]) -> Gpus:
    """The GPUs a process started with `environ` would see."""
    cuda = environ.get("CUDA_VISIBLE_DEVICES")
    if cuda is not None and not cuda.strip():
        return Gpus((), "CUDA_VISIBLE_DEVICES is empty")
    installed, how = _smi()
    chosen = select(cuda, installed)
    where = how if cuda is None else f"CUDA_VISIBLE_DEVICES={cuda}, {how}"
    if isinstance(chosen, int):  # listed but unverifiable: nothing to launch on without a driver tool
        return Gpus((), f"{where}; cannot confirm the {chosen} listed device(s)")
    return Gpus(chosen, where)
