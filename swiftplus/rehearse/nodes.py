"""How the nodes of a multi-node rehearsal meet, as the real job's nodes do: through the run directory they
share. Node 0 starts it afresh and writes the rehearsal recipe; every node trains; node 0 grafts, records each
stage's completion, serves and evaluates. A node that needs node 0's work waits for it, and stops when node
0's rehearsal has stopped; node 0 removes the directory once every node is done with it.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable

import yaml

from swiftplus.core import runs
from swiftplus.core.errors import UserError
from swiftplus.recipe.load import LoadedRecipe, load_recipe

WAIT = 1800.0  # seconds a node waits for node 0 (its graft, a stage's completion)
DONE_WAIT = 120.0  # seconds node 0 waits for the others to finish with the shared directory
RECIPE, STOPPED, DATA_READY = "recipe.yaml", "node-0.stopped", "node-0.data"


def shared_recipe(work: Path, data: dict, node_rank: int) -> LoadedRecipe:
    """The rehearsal recipe, loaded (validated) like any recipe: written by node 0 into a fresh run directory
    (only a rehearsal killed outright leaves one behind), read from there by the other nodes."""
    path = Path(work) / RECIPE
    if node_rank == 0:
        shutil.rmtree(work, ignore_errors=True)
        runs.write_text_atomic(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    else:
        wait_for(work, path.is_file, "node 0 to start its rehearsal")
    return load_recipe(str(path))


def data_ready(work: Path, node_rank: int) -> None:
    """Node 0 has written the samples, synthetic sets and fixtures every node trains from."""
    if node_rank == 0:
        runs.write_json_atomic(Path(work) / DATA_READY, {"at": time.time()})


def wait_for_data(work: Path) -> None:
    """What another node waits for before its own data step: node 0's (a recipe without a graft has no graft to
    wait for)."""
    wait_for(work, (Path(work) / DATA_READY).is_file, "node 0's data")


def wait_for(work: Path, ready: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if (Path(work) / STOPPED).is_file():
            raise UserError(f"node 0's rehearsal stopped before {what}; its table says where")
        if time.monotonic() > deadline:
            raise UserError(f"waited {timeout:.0f} s for {what}; is node 0 rehearsing, with the same run directory "
                            "(a filesystem every node shares)?")
        time.sleep(1.0)


def done(work: Path, node_rank: int, nnodes: int, *, wait: bool = True) -> None:
    """This node is done with the shared directory; node 0 tells the others it stopped, then waits for them."""
    work = Path(work)
    if nnodes < 2 or not work.is_dir():
        return
    if node_rank > 0:
        runs.write_json_atomic(work / f"node-{node_rank}.done", {"at": time.time()})
        return
    runs.write_json_atomic(work / STOPPED, {"at": time.time()})
    deadline = time.monotonic() + (DONE_WAIT if wait else 0)
    while time.monotonic() < deadline:
        if all((work / f"node-{k}.done").is_file() for k in range(1, nnodes)):
            return
        time.sleep(1.0)
