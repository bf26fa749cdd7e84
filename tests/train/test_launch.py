"""launch/: the Slurm batch script and the per-node script, run against stand-ins for srun and python."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from swiftplus.train.topology import resolve
from tests.helpers import REPO

SCRIPTS = [REPO / "launch/node.sh", REPO / "launch/slurm.sbatch"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse(script):
    assert os.access(script, os.X_OK)
    r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_scripts_are_shellcheck_clean():
    r = subprocess.run(["shellcheck", *map(str, SCRIPTS)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def stand_ins(tmp_path: Path) -> Path:
    """srun runs its command once per node (SLURM_NODEID set); scontrol expands the node list; the
    'python' prints what swiftplus would have received."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "srun").write_text("""#!/usr/bin/env bash
while [[ $1 == --* ]]; do shift; done
for ((i = 0; i < SLURM_NNODES; i++)); do SLURM_NODEID=$i "$@" || exit $?; done
""")
    (bin_ / "scontrol").write_text("""#!/usr/bin/env bash
[[ $1 == show && $2 == hostnames && $3 == "gpu[03-04]" ]] && printf 'gpu03\\ngpu04\\n'
""")
    (bin_ / "fakepy").write_text("""#!/usr/bin/env bash
echo "rank=$NODE_RANK nnodes=$NNODES addr=$MASTER_ADDR port=$MASTER_PORT nproc=${NPROC_PER_NODE:-} argv=$*"
""")
    for p in bin_.iterdir():
        p.chmod(0o755)
    return bin_


def test_sbatch_runs_one_task_per_node_with_its_rank(tmp_path):
    bin_ = stand_ins(tmp_path)
    env = {"PATH": f"{bin_}:{os.environ['PATH']}", "PY": str(bin_ / "fakepy"), "SLURM_JOB_ID": "4242",
           "SLURM_JOB_NODELIST": "gpu[03-04]", "SLURM_NNODES": "2", "SLURM_JOB_NUM_NODES": "2",
           "SLURM_GPUS_ON_NODE": "8", "SLURM_SUBMIT_DIR": str(REPO), "HOME": str(tmp_path)}
    r = subprocess.run(["bash", str(REPO / "launch/slurm.sbatch"), "qwen3-8b-vl", "2", "--resume"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    common = "nnodes=2 addr=gpu03 port=24242 nproc=8 argv=-m swiftplus train qwen3-8b-vl --stage 2 --resume"
    assert lines == [f"rank=0 {common}", f"rank=1 {common}"]


def test_sbatch_needs_slurm_and_arguments(tmp_path):
    r = subprocess.run(["bash", str(REPO / "launch/slurm.sbatch"), "r", "1"], env={"PATH": os.environ["PATH"]},
                       capture_output=True, text=True)
    assert r.returncode != 0 and "through sbatch" in r.stderr
    r = subprocess.run(["bash", str(REPO / "launch/slurm.sbatch")], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr


def test_node_script_passes_its_rank_and_demands_one_when_multi_node(tmp_path):
    bin_ = stand_ins(tmp_path)
    base = {"PATH": os.environ["PATH"], "PY": str(bin_ / "fakepy")}
    env = dict(base, NNODES="2", NODE_RANK="1", MASTER_ADDR="10.0.0.1", MASTER_PORT="29555", NPROC_PER_NODE="4")
    r = subprocess.run([str(REPO / "launch/node.sh"), "recipe.yaml", "lora"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("rank=1 nnodes=2 addr=10.0.0.1 port=29555 nproc=4 "
                                "argv=-m swiftplus train recipe.yaml --stage lora")
    r = subprocess.run([str(REPO / "launch/node.sh"), "r", "1"], env=dict(base, NNODES="2", MASTER_ADDR="h"),
                       capture_output=True, text=True)
    assert r.returncode != 0 and "needs NODE_RANK" in r.stderr and not r.stdout


def test_slurm_environment_maps_to_the_five_variables():
    """What swiftplus derives itself when the Slurm variables reach it directly (srun without the script)."""
    topo = resolve({"SLURM_JOB_ID": "1", "SLURM_NNODES": "4", "SLURM_NODEID": "3", "SLURM_GPUS_ON_NODE": "8",
                    "SLURM_JOB_NODELIST": "gpu[07-10],cpu1"})
    assert topo.env() == {"NPROC_PER_NODE": "8", "NNODES": "4", "NODE_RANK": "3", "MASTER_ADDR": "gpu07",
                          "MASTER_PORT": "29500"}
