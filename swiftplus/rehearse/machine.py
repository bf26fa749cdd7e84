"""The machine a rehearsal runs on: GPUs, cores, whether the hub answers, the recipe's model configs; and the GPU
memory a step used."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from typing import Mapping

from swiftplus.core.gpus import visible
from swiftplus.doctor import probe
from swiftplus.rehearse.rehearsal import Machine

HUB_HOSTS = {"modelscope": "www.modelscope.cn", "hf": "huggingface.co"}
OFFLINE = ("HF_HUB_OFFLINE", "MODELSCOPE_OFFLINE", "HF_DATASETS_OFFLINE")


def hub_reachable(hub_name: str, environ: Mapping[str, str]) -> bool:
    if any(environ.get(k, "").lower() in ("1", "true", "yes") for k in OFFLINE):
        return False
    try:
        with socket.create_connection((HUB_HOSTS.get(hub_name, HUB_HOSTS["modelscope"]), 443), timeout=3.0):
            return True
    except OSError:
        return False


def detect_machine(hub_name: str, environ: Mapping[str, str]) -> Machine:
    """GPUs as the doctor and the launcher count them (CUDA_VISIBLE_DEVICES and nvidia-smi, not torch)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return Machine(gpus=visible(environ).count, cpus=cpus, hub_reachable=hub_reachable(hub_name, environ))


def describe(machine: Machine) -> str:
    gpus = f"{machine.gpus} GPU(s)" if machine.gpus else "no GPU"
    hub = "reachable" if machine.hub_reachable else "not reachable"
    return f"{socket.gethostname()} ({gpus}, {machine.cpus} CPU cores, hub {hub})"


def model_configs(hub_name: str, environ: Mapping[str, str]):
    """A model reference -> its config.json where the doctor finds one (a local path, either hub's cache, its
    table of known models), else None: what tells command.py which fixtures stand in for the recipe's models."""
    lookup = probe.lookup_for(hub_name, environ)
    return lambda ref: lookup(ref).config


class GpuMemory:
    """Peak memory.used of every GPU (nvidia-smi, every half second) while a step runs, in GiB."""

    def __init__(self, enabled: bool):
        self.enabled, self.peak, self._stop = enabled, [], threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=10).stdout
                used = [float(x) / 1024 for x in out.split()]
            except (OSError, ValueError, subprocess.TimeoutExpired):
                return
            self.peak = [max(a, b) for a, b in zip(self.peak, used)] if len(self.peak) == len(used) else used
            self._stop.wait(0.5)

    def __enter__(self):
        if self.enabled and shutil.which("nvidia-smi"):
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
