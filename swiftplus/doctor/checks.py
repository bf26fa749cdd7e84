"""What each stage needs (needs.py) against what this machine has (probe.py) -> problems, each naming the
setting and the fix (pure)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from swiftplus.core.gpus import Gpus
from swiftplus.core.stages import DEPLOY
from swiftplus.doctor.estimate import ACTIVATIONS, GB, GIB
from swiftplus.doctor.needs import Disk, StageNeeds


@dataclass(frozen=True)
class Space:
    device: int  # st_dev of the nearest existing directory: needs on one filesystem add up
    free: float
    where: str  # that directory, for messages


@dataclass(frozen=True)
class Facts:
    gpus: Gpus
    importable: Mapping[str, bool]
    space: Mapping[Path, Space]  # for every Disk.path
    host_memory: float


@dataclass(frozen=True)
class Problem:
    where: str  # stage(s) or "disk"
    setting: str
    message: str
    fix: str
    warning: bool = False  # an allowance exceeded, not a certainty: reported, never refused

    def render(self) -> str:
        return f"{self.where}: {self.setting}: {self.message}\n     fix: {self.fix}"


def gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def packages(needs: list[StageNeeds], importable: Mapping[str, bool]) -> list[Problem]:
    """One problem per missing package, naming every setting that asks for it."""
    missing: dict[str, list] = {}
    for n in needs:
        for p in n.packages:
            if not importable.get(p.module, False):
                missing.setdefault(p.module, []).append((n.stage, p))
    out = []
    for module, asks in missing.items():
        stages = ", ".join(dict.fromkeys(s for s, _ in asks))
        instead = " ".join(dict.fromkeys(p.instead for _, p in asks if p.instead))
        fix = asks[0][1].install + (f"; or do without it: {instead}" if instead else "")
        out.append(Problem(stages, ", ".join(p.setting for _, p in asks),
                           f"needs the {module} package, which is not installed here", fix))
    return out


def processes(n: StageNeeds, gpus: Gpus) -> list[Problem]:
    """NPROC_PER_NODE against the visible GPUs, as ms-swift and DeepSpeed will treat them."""
    topo, count, out = n.topology, gpus.count, []
    if n.gpu_required and count == 0:
        need = f"; estimated {gib(sum(n.memory.values()))} per GPU" if n.memory else ""
        if topo is None:
            fix = f"run on a CUDA machine (check `nvidia-smi` and CUDA_VISIBLE_DEVICES){n.cpu_instead}"
        else:
            procs = topo.nproc_per_node or 1
            need += f" with {procs * topo.nnodes} process(es)" if n.memory else ""
            nproc = (f"NPROC_PER_NODE={procs} will start {procs} per node" if topo.nproc_per_node else
                     "NPROC_PER_NODE is unset: one process per visible GPU")
            fix = f"run on a CUDA machine (check `nvidia-smi` and CUDA_VISIBLE_DEVICES); {nproc}"
        out.append(Problem(n.stage, "GPUs", f"{n.gpu_required} need(s) a GPU, but none is visible "
                           f"({gpus.source}){need}", fix))
        return out
    if topo is None or topo.nproc_per_node is None or count == 0:
        return out
    nproc, origin = topo.nproc_per_node, "" if topo.nproc_defaulted else f" (from {topo.source})"
    if nproc > count:
        out.append(Problem(n.stage, "NPROC_PER_NODE", f"{nproc}{origin} starts {nproc} processes per node, but "
                           f"{count} GPU(s) are visible ({gpus.source})",
                           f"set NPROC_PER_NODE={count}, or unset it (one process per visible GPU)"))
    elif count % nproc:
        out.append(Problem(n.stage, "NPROC_PER_NODE", f"{nproc}{origin} does not divide the {count} visible GPUs; "
                           "ms-swift requires it to", f"set NPROC_PER_NODE to a divisor of {count}"))
    elif n.deepspeed and count // nproc >= 2:
        out.append(Problem(n.stage, "NPROC_PER_NODE", f"{nproc}{origin} process(es) over {count} GPUs make ms-swift "
                           f"spread each model over several GPUs (device_map), which DeepSpeed refuses",
                           f"set NPROC_PER_NODE={count}, or unset it (one process per visible GPU)"))
    return out


def memory(n: StageNeeds, gpus: Gpus, host_memory: float) -> list[Problem]:
    """Weights, gradients and optimizer state are certain once the model loads: more than the device holds is
    refused. The activation allowance (at max_length, the largest image) only warns: the data decides it."""
    if not n.memory or (n.gpu_required and gpus.count == 0):
        return []
    need = sum(n.memory.values())
    certain = need - n.memory.get(ACTIVATIONS, 0.0)
    parts = " + ".join(f"{k} {v / GIB:.1f}" for k, v in n.memory.items())
    if gpus.count:
        have, what = gpus.min_memory_gib * GIB * n.memory_limit, "the GPU"
        share = f" ({n.memory_limit:.0%} of {gpus.min_memory_gib:.0f} GiB)" if n.memory_limit < 1 else ""
    else:
        have, what, share = host_memory, "host RAM (no GPU visible: it would run on the CPU)", ""
    fix = SERVE_MEMORY_FIX if n.stage == DEPLOY else TRAIN_MEMORY_FIX
    if certain > have:
        return [Problem(n.stage, "memory", f"~{gib(need)} per device estimated ({parts} GiB), {gib(certain)} of it "
                        f"before any activation; {what} has {gib(have)}{share}", fix)]
    if need > have:
        return [Problem(n.stage, "memory", f"~{gib(need)} per device estimated ({parts} GiB) at max_length and the "
                        f"largest image; {what} has {gib(have)}{share}: long samples may run out of memory", fix,
                        warning=True)]
    return []


TRAIN_MEMORY_FIX = ("partition more: deepspeed zero3 (or more GPUs / nodes); or lower per_device_train_batch_size "
                    "or max_length; keep gradient_checkpointing on")
SERVE_MEMORY_FIX = "serve on a larger GPU or over several (vllm_tensor_parallel_size), or lower vllm_max_model_len"


def disk(needs: list[StageNeeds], space: Mapping[Path, Space]) -> list[Problem]:
    """Needs on one filesystem add up; a download two stages share counts once."""
    unique: dict[str, Disk] = {}
    for n in needs:
        for d in n.disk:
            unique.setdefault(d.key, d)
    by_device: dict[int, list[Disk]] = {}
    for d in unique.values():
        by_device.setdefault(space[d.path].device, []).append(d)
    out = []
    for items in by_device.values():
        total, room = sum(d.bytes for d in items), space[items[0].path]
        if total <= room.free:
            continue
        listed = "".join(f"\n       {d.bytes / GB:8.1f} GB  {d.what} -> {d.path}" for d in items)
        out.append(Problem("disk", room.where, f"needs ~{total / GB:.0f} GB, {room.free / GB:.0f} GB free:{listed}",
                           "free space or point run_dir / MODELSCOPE_CACHE / HF_HOME at a larger disk; lower "
                           "save_total_limit or set save_only_model: true (checkpoints without optimizer state "
                           "cannot be resumed)"))
    return out


def check(needs: list[StageNeeds], facts: Facts) -> list[Problem]:
    out = packages(needs, facts.importable)
    for n in needs:
        out += processes(n, facts.gpus)
        if n.stage == DEPLOY and n.tensor_parallel > max(facts.gpus.count, 1):
            out.append(Problem(n.stage, "vllm_tensor_parallel_size", f"{n.tensor_parallel} needs as many GPUs; "
                               f"{facts.gpus.count} visible", f"set deploy.vllm_tensor_parallel_size to at most "
                               f"{max(facts.gpus.count, 1)}"))
        out += memory(n, facts.gpus, facts.host_memory)
    return out + disk(needs, facts.space)
