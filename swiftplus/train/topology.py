"""Where this process sits in a multi-node job, read from whichever launcher set the environment.

ms-swift starts torchrun itself when NPROC_PER_NODE or NNODES is set, so swiftplus only has to hand it
the five standard variables; this module derives them from the plain variables, from the MLP platform
(seed 001) or from Slurm, in that order of precedence.

Without NPROC_PER_NODE swift starts one plain process. That is wrong whenever a launcher is needed: with
DeepSpeed ms-swift refuses two or more visible GPUs in one process ("DeepSpeed is not compatible with
`device_map`", sft_args._init_deepspeed via utils.env.is_mp), and on one GPU DeepSpeed, finding no RANK /
WORLD_SIZE, falls into MPI discovery; with NNODES alone torchrun runs one process per node. So when the
stage needs a launcher and NPROC_PER_NODE is unset, it defaults to the GPUs visible on this node.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Mapping

from swiftplus.core.errors import UserError
from swiftplus.core.gpus import visible
from swiftplus.recipe.flags import stage_env, stage_flags
from swiftplus.recipe.schema import Recipe

STANDARD = ("NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT")
DEFAULT_PORT = 29500


@dataclass(frozen=True)
class Topology:
    nnodes: int = 1
    node_rank: int = 0
    nproc_per_node: int | None = None  # None: a single process, no torchrun
    master_addr: str = "127.0.0.1"
    master_port: int = DEFAULT_PORT
    source: str = "default"
    nproc_defaulted: bool = False  # NPROC_PER_NODE was unset and set to the visible GPU count

    @property
    def distributed(self) -> bool:
        return self.nnodes > 1 or (self.nproc_per_node or 1) > 1

    def env(self, node_rank: int | None = None) -> dict[str, str]:
        """What swift needs to start torchrun on one node; empty for a single process."""
        if not self.distributed and self.nproc_per_node is None:
            return {}
        env = {"NPROC_PER_NODE": str(self.nproc_per_node or 1)}
        if self.nnodes > 1:
            env.update(NNODES=str(self.nnodes), NODE_RANK=str(self.node_rank if node_rank is None else node_rank),
                       MASTER_ADDR=self.master_addr, MASTER_PORT=str(self.master_port))
        return env


def first_slurm_host(nodelist: str) -> str:
    """'gpu[03-05,07],cpu1' -> 'gpu03' (what `scontrol show hostnames | head -1` prints)."""
    m = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not m:
        raise UserError(f"cannot read SLURM_JOB_NODELIST={nodelist!r}; set MASTER_ADDR explicitly")
    prefix, ranges = m.group(1), m.group(2)
    if not ranges:
        return prefix
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first


def _int(env: Mapping[str, str], key: str) -> int | None:
    if key not in env or env[key] == "":
        return None
    try:
        return int(env[key])
    except ValueError:
        raise UserError(f"environment variable {key}={env[key]!r} must be an integer") from None


def _slurm_gpus(env: Mapping[str, str]) -> int | None:
    for key in ("SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE"):
        raw = env.get(key, "")
        m = re.search(r"(\d+)$", raw)
        if m:
            return int(m.group(1))
    return None


def resolve(env: Mapping[str, str]) -> Topology:
    """Plain variables win, then MLP_WORKER_*, then SLURM_*."""
    topo: dict = {}
    source = "default"
    if "SLURM_JOB_ID" in env and _int(env, "SLURM_NNODES"):
        source = "slurm"
        topo.update(nnodes=_int(env, "SLURM_NNODES"), node_rank=_int(env, "SLURM_NODEID") or 0)
        if _slurm_gpus(env):
            topo["nproc_per_node"] = _slurm_gpus(env)
        if env.get("SLURM_JOB_NODELIST"):
            topo["master_addr"] = first_slurm_host(env["SLURM_JOB_NODELIST"])
    if "MLP_WORKER_NUM" in env:
        source = "mlp"
        topo.update(nnodes=_int(env, "MLP_WORKER_NUM"), node_rank=_int(env, "MLP_ROLE_INDEX") or 0)
        if _int(env, "MLP_WORKER_GPU"):
            topo["nproc_per_node"] = _int(env, "MLP_WORKER_GPU")
        if env.get("MLP_WORKER_0_HOST"):
            topo["master_addr"] = env["MLP_WORKER_0_HOST"]
        if _int(env, "MLP_WORKER_0_PORT"):
            topo["master_port"] = _int(env, "MLP_WORKER_0_PORT")
    plain = {"nnodes": _int(env, "NNODES"), "node_rank": _int(env, "NODE_RANK"),
             "nproc_per_node": _int(env, "NPROC_PER_NODE"), "master_port": _int(env, "MASTER_PORT")}
    if env.get("MASTER_ADDR"):
        plain["master_addr"] = env["MASTER_ADDR"]
    plain = {k: v for k, v in plain.items() if v is not None}
    if plain:
        source = "env" if source == "default" else f"env+{source}"
    topo.update(plain)
    t = Topology(source=source, **topo)
    if t.nnodes < 1 or not 0 <= t.node_rank < t.nnodes:
        raise UserError(f"NODE_RANK={t.node_rank} is outside 0..{t.nnodes - 1} (NNODES={t.nnodes}, from {source})")
    if t.nnodes > 1 and "master_addr" not in topo:  # the 127.0.0.1 default would leave rank > 0 waiting on itself
        raise UserError(f"NNODES={t.nnodes} (from {source}) but no master address: set MASTER_ADDR to node 0's "
                        f"hostname or IP on every node (MLP_WORKER_0_HOST and SLURM_JOB_NODELIST also give it)")
    if t.nproc_per_node is not None and t.nproc_per_node < 1:
        raise UserError(f"NPROC_PER_NODE={t.nproc_per_node} must be at least 1")
    return t


def needs_launcher(recipe: Recipe, stage: str, topo: Topology, gpus: int) -> bool:
    """DeepSpeed, several nodes or several GPUs need torchrun; one plain process serves only one device."""
    flags = stage_flags(recipe, stage)
    return bool(flags.get("deepspeed")) or topo.nnodes > 1 or gpus >= 2


def with_default_nproc(topo: Topology, launcher: bool, gpus: int) -> Topology:
    """NPROC_PER_NODE unset and a launcher needed: one process per visible GPU, on each node."""
    if topo.nproc_per_node is not None or not launcher or gpus < 1:
        return topo
    return replace(topo, nproc_per_node=gpus, nproc_defaulted=True)


def topology_for(recipe: Recipe, stage: str, environ: Mapping[str, str], gpus: int | None = None) -> Topology:
    """The real environment wins over the recipe, as swift itself treats ENV from its config files. `gpus`:
    the GPUs visible on this node (default: asked of nvidia-smi, only when NPROC_PER_NODE is unset)."""
    merged = stage_env(recipe, stage)
    merged.update(environ)
    topo = resolve(merged)
    if topo.nproc_per_node is not None:
        return topo
    if gpus is None:
        gpus = visible(merged).count
    return with_default_nproc(topo, needs_launcher(recipe, stage, topo, gpus), gpus)
