"""Needs against facts -> problems, each naming the setting and the fix (pure: facts are fed in)."""
from pathlib import Path

import pytest

from swiftplus.core.gpus import Gpu, Gpus
from swiftplus.doctor import checks
from swiftplus.doctor.checks import Facts, Space
from swiftplus.doctor.estimate import ACTIVATIONS, GIB
from swiftplus.doctor.needs import Disk, Package, StageNeeds
from swiftplus.train.topology import Topology

NO_GPU = Gpus((), "nvidia-smi not found")


def gpus(n: int, gib: int = 80) -> Gpus:
    return Gpus(tuple(Gpu(i, f"GPU-{i}", "H100", gib * 1024) for i in range(n)), "nvidia-smi")


def facts(g=NO_GPU, importable=None, space=None, ram=64 * GIB) -> Facts:
    return Facts(g, importable or {}, space or {}, ram)


def train(nproc=None, defaulted=False, deepspeed="zero2", memory=None, nnodes=1) -> StageNeeds:
    topo = Topology(nnodes=nnodes, nproc_per_node=nproc, master_addr="h0", source="env", nproc_defaulted=defaulted)
    return StageNeeds("stage1", topology=topo, deepspeed=deepspeed,
                      gpu_required=f"DeepSpeed {deepspeed}" if deepspeed else None, memory=memory)


def test_a_missing_package_names_every_setting_that_asks_for_it_and_both_fixes():
    asks = [StageNeeds("stage1", packages=[Package("flash_attn", "stage1.attn_impl: flash_attn", "install it",
                                                   "--set stage1.attn_impl=sdpa")]),
            StageNeeds("stage2", packages=[Package("flash_attn", "stage2.attn_impl: flash_attn", "install it",
                                                   "--set stage2.attn_impl=sdpa")])]
    (p,) = checks.check(asks, facts())
    assert p.where == "stage1, stage2" and p.setting == "stage1.attn_impl: flash_attn, stage2.attn_impl: flash_attn"
    assert p.fix == "install it; or do without it: --set stage1.attn_impl=sdpa --set stage2.attn_impl=sdpa"
    assert checks.check(asks, facts(importable={"flash_attn": True})) == []


def test_deepspeed_without_a_gpu():
    (p,) = checks.check([train(memory={"weights": 40 * GIB})], facts())
    assert p.setting == "GPUs" and "DeepSpeed zero2" in p.message and "none is visible" in p.message
    assert "40.0 GiB per GPU with 1 process(es)" in p.message and "NPROC_PER_NODE" in p.fix


def test_a_cpu_stage_needs_no_gpu():
    assert checks.check([train(deepspeed=None)], facts()) == []


@pytest.mark.parametrize("nproc,visible,fragment", [
    (8, 2, "starts 8 processes per node, but 2 GPU(s) are visible"),
    (3, 4, "does not divide the 4 visible GPUs"),
    (1, 2, "DeepSpeed refuses"),  # two GPUs per process: ms-swift sets device_map
])
def test_nproc_against_the_visible_gpus(nproc, visible, fragment):
    (p,) = checks.check([train(nproc=nproc)], facts(gpus(visible)))
    assert p.setting == "NPROC_PER_NODE" and fragment in p.message and "NPROC_PER_NODE" in p.fix


def test_one_process_per_gpu_passes():
    assert checks.check([train(nproc=8, defaulted=True)], facts(gpus(8))) == []


def test_model_states_beyond_the_device_are_refused_activations_only_warn():
    states = {"weights": 50 * GIB, "gradients": 20 * GIB, "optimizer": 15 * GIB, "overhead": 2 * GIB}
    (p,) = checks.check([train(nproc=8, memory={**states, ACTIVATIONS: 1 * GIB})], facts(gpus(8)))
    assert not p.warning and p.setting == "memory" and "87.0 GiB of it before any activation" in p.message
    assert "deepspeed zero3" in p.fix
    lighter = {"weights": 30 * GIB, "overhead": 2 * GIB, ACTIVATIONS: 60 * GIB}
    (w,) = checks.check([train(nproc=8, memory=lighter)], facts(gpus(8)))
    assert w.warning and "long samples may run out of memory" in w.message
    assert checks.check([train(nproc=8, memory={"weights": 30 * GIB})], facts(gpus(8))) == []


def test_a_cpu_stage_is_held_to_host_ram():
    (p,) = checks.check([train(deepspeed=None, memory={"weights": 100 * GIB})], facts(ram=24 * GIB))
    assert "host RAM" in p.message and "24.0 GiB" in p.message


def test_vllm_gets_its_utilization_share():
    serve = StageNeeds("deploy", gpu_required="infer_backend vllm", memory={"weights": 75 * GIB},
                       memory_limit=0.9)
    (p,) = checks.check([serve], facts(gpus(1)))
    assert "(90% of 80 GiB)" in p.message and "vllm_tensor_parallel_size" in p.fix
    assert checks.check([serve], facts(gpus(1, gib=141))) == []


def test_tensor_parallel_beyond_the_gpus():
    serve = StageNeeds("deploy", gpu_required="infer_backend vllm", tensor_parallel=4)
    (p,) = checks.check([serve], facts(gpus(2)))
    assert p.setting == "vllm_tensor_parallel_size" and "at most 2" in p.fix


def test_disk_needs_on_one_filesystem_add_up_and_a_shared_download_counts_once():
    cache, runs, other = Path("/cache"), Path("runs/x/stage1"), Path("/scratch")
    space = {cache: Space(1, 100e9, "/"), runs: Space(1, 100e9, "/"), other: Space(2, 10e9, "/scratch")}
    download = Disk(cache, 40e9, "download A", "download:A")
    needs = [StageNeeds("graft", disk=[download, Disk(runs, 30e9, "graft output", "graft")]),
             StageNeeds("stage1", disk=[download, Disk(runs, 20e9, "checkpoints", "checkpoints:stage1")])]
    assert checks.check(needs, facts(space=space)) == []  # 90 GB of 100: the download once
    needs.append(StageNeeds("stage2", disk=[Disk(runs, 20e9, "more checkpoints", "checkpoints:stage2"),
                                            Disk(other, 5e9, "elsewhere", "x")]))
    (p,) = checks.check(needs, facts(space=space))
    assert p.where == "disk" and p.setting == "/" and "needs ~110 GB, 100 GB free" in p.message
    assert "more checkpoints" in p.message and "elsewhere" not in p.message  # /scratch has room for its 5 GB
    assert "save_total_limit" in p.fix
