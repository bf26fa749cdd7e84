import pytest

from swiftplus.core.errors import UserError
from swiftplus.train.topology import first_slurm_host, resolve


def test_single_process_by_default():
    t = resolve({})
    assert not t.distributed and t.env() == {}


def test_plain_variables():
    t = resolve({"NNODES": "2", "NODE_RANK": "1", "NPROC_PER_NODE": "8", "MASTER_ADDR": "h0", "MASTER_PORT": "1234"})
    assert t.env() == {"NNODES": "2", "NODE_RANK": "1", "NPROC_PER_NODE": "8", "MASTER_ADDR": "h0", "MASTER_PORT": "1234"}


def test_mlp_platform_from_seed_001():
    t = resolve({"MLP_WORKER_GPU": "8", "MLP_WORKER_NUM": "4", "MLP_ROLE_INDEX": "3",
                 "MLP_WORKER_0_HOST": "10.0.0.5", "MLP_WORKER_0_PORT": "29501"})
    assert (t.nnodes, t.node_rank, t.nproc_per_node, t.master_addr, t.master_port) == (4, 3, 8, "10.0.0.5", 29501)
    assert t.source == "mlp"


def test_slurm():
    t = resolve({"SLURM_JOB_ID": "77", "SLURM_NNODES": "2", "SLURM_NODEID": "1", "SLURM_GPUS_ON_NODE": "4",
                 "SLURM_JOB_NODELIST": "gpu[07-08]"})
    assert (t.nnodes, t.node_rank, t.nproc_per_node, t.master_addr) == (2, 1, 4, "gpu07")


def test_plain_beats_slurm():
    t = resolve({"SLURM_JOB_ID": "77", "SLURM_NNODES": "2", "SLURM_NODEID": "1", "MASTER_ADDR": "explicit"})
    assert t.master_addr == "explicit" and t.source == "env+slurm"


@pytest.mark.parametrize("nodelist,host", [("n1", "n1"), ("gpu[03-05,07],cpu1", "gpu03"), ("a-b[9]", "a-b9")])
def test_slurm_nodelist(nodelist, host):
    assert first_slurm_host(nodelist) == host


@pytest.mark.parametrize("env", [{"NNODES": "2", "NODE_RANK": "2"}, {"NNODES": "x"}, {"NPROC_PER_NODE": "0"}])
def test_bad_topology(env):
    with pytest.raises(UserError):
        resolve(env)


@pytest.mark.parametrize("env", [{"NNODES": "2", "NODE_RANK": "1"}, {"MLP_WORKER_NUM": "2", "MLP_ROLE_INDEX": "0"}])
def test_many_nodes_without_a_master_address_is_refused(env):
    with pytest.raises(UserError, match="no master address: set MASTER_ADDR"):
        resolve(env)


# --- NPROC_PER_NODE unset: one process per visible GPU when a launcher is needed --------------------------

def _recipe(tmp_path, stage1: str):
    from swiftplus.recipe.load import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text(f"swift: {{model_type: qwen2_5_vl, template: qwen2_5_vl}}\n"
                    f"stage1: {{init: /models/x, dataset: [d.jsonl]{stage1}}}\n")
    return load_recipe(str(path), check_flags=False).recipe


@pytest.mark.parametrize("stage1,environ,gpus,nproc", [
    (", deepspeed: zero2", {}, 8, 8),  # ms-swift refuses 2+ GPUs in one DeepSpeed process
    (", deepspeed: zero2", {}, 1, 1),  # one GPU: torchrun still, or DeepSpeed falls into MPI discovery
    ("", {}, 4, 4),  # several GPUs: data parallel rather than one process spread over them
    ("", {}, 1, None),  # one GPU, no DeepSpeed: a plain process is right
    (", deepspeed: zero2", {}, 0, None),  # nothing to count: the doctor reports it
    ("", {"NNODES": "2", "NODE_RANK": "0", "MASTER_ADDR": "h0"}, 8, 8),  # not 1 per node
    (", deepspeed: zero2", {"NPROC_PER_NODE": "2"}, 8, 2),  # an explicit value always wins
])
def test_nproc_defaults_to_the_visible_gpus(tmp_path, stage1, environ, gpus, nproc):
    from swiftplus.train.topology import topology_for

    topo = topology_for(_recipe(tmp_path, stage1), "stage1", environ, gpus)
    assert topo.nproc_per_node == nproc
    assert topo.nproc_defaulted == (nproc is not None and "NPROC_PER_NODE" not in environ)
    if nproc:
        assert topo.env()["NPROC_PER_NODE"] == str(nproc)
