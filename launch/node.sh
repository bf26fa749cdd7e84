#!/usr/bin/env bash
# One node of a multi-node `swift sft` stage: run the same command on every node, each with its own rank.
#
#   NNODES=4 NODE_RANK=<0..3> MASTER_ADDR=<node 0's address> [MASTER_PORT=29500] [NPROC_PER_NODE=8] \
#       launch/node.sh RECIPE 1|2|lora [--resume] [--set key=value ...]
#
# The variables may also come from the MLP platform (MLP_WORKER_NUM, MLP_ROLE_INDEX, MLP_WORKER_0_HOST,
# ...) or Slurm (SLURM_*): swiftplus reads those itself. ms-swift starts torchrun on this node; the run
# directory should live on a filesystem every node shares (stage 2 starts from stage 1's checkpoint).
# PY=/path/to/python picks the interpreter (default: the repository's .venv, else python3).
set -euo pipefail

usage() { echo "usage: launch/node.sh RECIPE 1|2|lora [swiftplus train options]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
recipe=$1
stage=$2
shift 2

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z "${PY:-}" ]]; then
    if [[ -x "$repo/.venv/bin/python" ]]; then PY="$repo/.venv/bin/python"; else PY=python3; fi
fi

if [[ "${NNODES:-1}" -gt 1 ]]; then
    : "${NODE_RANK:?NNODES=$NNODES needs NODE_RANK (0..$((NNODES - 1))) on each node}"
    : "${MASTER_ADDR:?NNODES=$NNODES needs MASTER_ADDR (node 0 address) on each node}"
fi

echo "node.sh: $(hostname) NNODES=${NNODES:-} NODE_RANK=${NODE_RANK:-} MASTER_ADDR=${MASTER_ADDR:-}" \
     "MASTER_PORT=${MASTER_PORT:-} NPROC_PER_NODE=${NPROC_PER_NODE:-}" >&2
exec "$PY" -m swiftplus train "$recipe" --stage "$stage" "$@"
