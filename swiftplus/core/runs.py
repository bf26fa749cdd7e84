"""Every path under runs/<name>, the run record, and the completion markers.

A stage is a function from (recipe, previous stage's run directory) to a new run directory; the
completion marker is the only thing a later stage trusts. `recipe` here is any object with the schema's
run_path() / graft_output() (core imports nothing above it).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from swiftplus.core.secrets import is_secret, redact
from swiftplus.core.stages import DEPLOY, EVAL, GRAFT, host_source

COMPLETE = "complete.json"


def run_root(recipe) -> Path:
    return Path(recipe.run_path())


def stage_dir(recipe, stage: str) -> Path:
    """runs/<name>/<stage>: graft, stage1, stage2, lora, export, deploy, eval."""
    if stage == GRAFT:
        return Path(recipe.graft_output() or run_root(recipe) / GRAFT)
    return run_root(recipe) / stage


def host_graft_dir(recipe, name: str) -> Path:
    """runs/<name>/graft-<host>: the donor grafted into graft.also_into entry `name`, beside the recipe's own graft."""
    return run_root(recipe) / host_source(name)


def output_dir(recipe, stage: str) -> Path:
    """Where `swift sft` writes (the directory holding checkpoint-N), and the export's merged model."""
    return stage_dir(recipe, stage) / "output"


def partial_dir(recipe, stage: str) -> Path:
    """Where `swift export` writes; renamed to output_dir once the merged checkpoint is whole."""
    return output_dir(recipe, stage).with_name("output.partial")


def converted_dataset(stage_root: Path, prefix: str, index: int, source: str) -> Path:
    """The jsonl a local dataset entry is converted into, inside the stage that trains on it."""
    return Path(stage_root) / "data" / f"{prefix}-{index}-{Path(source).stem}.jsonl"


def lint_record(record: Path) -> Path:
    return Path(record) / "lint.json"


def deploy_dir(recipe) -> Path:
    return run_root(recipe) / DEPLOY


def server_record(recipe) -> Path:
    """The detached endpoint's record (runs/<name>/deploy/server.json)."""
    return deploy_dir(recipe) / "server.json"


def server_log(recipe, port: int | None = None, log_dir: Path | None = None) -> Path:
    """server.log, or server-PORT.log beside a detached endpoint's log."""
    name = "server.log" if port is None else f"server-{port}.log"
    return Path(log_dir or deploy_dir(recipe)) / name


def eval_dir(recipe) -> Path:
    return run_root(recipe) / EVAL


def eval_set_copy(recipe, name: str) -> Path:
    """Where a local eval set whose media paths had to be made absolute is rewritten."""
    return eval_dir(recipe) / "data" / name


def perf_dir(recipe) -> Path:
    return run_root(recipe) / "perf"


def task_dir(recipe) -> Path:
    """The synthetic task's images and rows."""
    return run_root(recipe) / "task"


def report_path(recipe) -> Path:
    return run_root(recipe) / "report.md"


def node_marker(recipe, job: str) -> Path:
    """Written by node 0 of a multi-node job; the other nodes must see it (the run directory is shared)."""
    return run_root(recipe) / ".nodes" / f"{job}.json"


def absolute_run_dir(recipe) -> str:
    """The run directory as a record of a live process names it (links resolved): the run it belongs to."""
    return os.path.realpath(run_root(recipe))


def within_run(recipe, path: str | Path) -> Path | None:
    """`path` relative to the recipe's run directory when it lies inside it, as spelt or once links are
    resolved (else None)."""
    root = run_root(recipe)
    for norm in (os.path.abspath, os.path.realpath):
        try:
            return Path(norm(path)).relative_to(norm(root))
        except ValueError:
            continue
    return None


# A record names what lies inside its run directory relative to that directory ("stage2/output/checkpoint-12"),
# so a copied or moved run names its own files; what lies outside (a template, a donor, a hub cache) stays
# absolute. Records written before this are absolute throughout and still read (core/lineage says when one
# points outside the run).

def record_path(recipe, path: str | Path) -> str:
    """How a record names a local path: relative to the run directory when inside it, else absolute."""
    inside = within_run(recipe, path)
    return inside.as_posix() if inside is not None else str(Path(path).resolve())


def recorded_path(recipe, value: str) -> Path:
    """A path read back from a record: a relative entry lies in the run directory in use now, wherever the
    run was when it was written; an absolute one is taken as it is. Links are kept (an output directory
    linked to scratch storage is still the run's)."""
    path = Path(value)
    return path if path.is_absolute() else Path(os.path.abspath(run_root(recipe) / path))


def rehearsal_dir(recipe) -> Path:
    """runs/<name>/rehearsal: the rehearsal's report, beside (never inside) the real run's stage directories."""
    return run_root(recipe) / "rehearsal"


def rehearsal_report(recipe) -> Path:
    """The one file a rehearsal leaves behind."""
    return rehearsal_dir(recipe) / "report.md"


def rehearsal_work(recipe) -> Path:
    """The rehearsal's own run directory, removed when it ends. Under the real run root, so the nodes of a
    multi-node rehearsal share it exactly as the real job shares runs/<name>."""
    return rehearsal_dir(recipe) / "work"


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_complete(directory: Path) -> dict[str, Any] | None:
    return read_json(Path(directory) / COMPLETE)


def write_json_atomic(path: Path, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


# --- the run record: what ran, with what, on what; the completion marker comes last -------------------

RECORD_FILES = ("recipe.yaml", "argv.json", "env.json", "versions.json", "inputs.json")
# Ambient variables worth recording (they change what swift does); anything secret-looking never is.
RECORDED_ENV_PREFIXES = ("CUDA_", "NCCL_", "NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_", "SLURM_", "MLP_",
                         "MAX_PIXELS", "MIN_PIXELS", "VIDEO_", "FPS", "IMAGE_", "HF_", "MODELSCOPE_", "TRANSFORMERS_",
                         "PYTORCH_", "OMP_NUM_THREADS", "TORCH_", "SWIFT_", "SWIFTPLUS_")


def record_dir(stage_root: Path, node_rank: int = 0) -> Path:
    """Node 0 records into the stage directory; other nodes beside it, so a shared filesystem keeps both."""
    return Path(stage_root) if node_rank == 0 else Path(stage_root) / f"node-{node_rank}"


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def recorded_env(explicit: dict[str, str], environ: dict[str, str]) -> dict[str, dict[str, str]]:
    """What swiftplus set for the child, and the ambient variables that steer training (no secrets)."""
    ambient = {k: v for k, v in environ.items()
               if k.startswith(RECORDED_ENV_PREFIXES) and not is_secret(k) and k not in explicit}
    return {"set": {k: v for k, v in explicit.items() if not is_secret(k)}, "ambient": dict(sorted(ambient.items()))}


def write_record(directory: Path, *, recipe_data: dict, argv: list[str], env: dict, versions: dict,
                 inputs: dict) -> None:
    import yaml

    directory = Path(directory)
    write_text_atomic(directory / "recipe.yaml", yaml.safe_dump(redact(recipe_data), sort_keys=False,
                                                                 allow_unicode=True))
    write_json_atomic(directory / "argv.json", argv)
    write_json_atomic(directory / "env.json", env)
    write_json_atomic(directory / "versions.json", versions)
    write_json_atomic(directory / "inputs.json", inputs)


def append_attempt(directory: Path, entry: dict) -> None:
    """attempts.jsonl: one line per launch (start, resume, outcome), never rewritten."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "attempts.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True, default=str) + "\n")


def mark_complete(stage_root: Path, info: dict) -> None:
    """The last write of a stage: a later stage trusts nothing else. Paths in `info` are record_path's."""
    write_json_atomic(Path(stage_root) / COMPLETE, info)


def file_digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def safetensors_header_digest(path: Path) -> str:
    """sha256 of a safetensors header (names, dtypes, shapes, offsets): cheap for any size of weights."""
    import hashlib
    import struct

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return hashlib.sha256(f.read(n)).hexdigest()


def model_fingerprint(model_dir: Path, recipe) -> dict[str, Any]:
    """Hashes of a checkpoint's config, index and weight headers: enough to tell two inputs apart."""
    model_dir = Path(model_dir)
    out: dict[str, Any] = {"path": record_path(recipe, model_dir)}
    for name in ("config.json", "model.safetensors.index.json", "adapter_config.json"):
        if (model_dir / name).is_file():
            out[name] = file_digest(model_dir / name)
    headers = {p.name: safetensors_header_digest(p) for p in sorted(model_dir.glob("*.safetensors"))}
    if headers:
        out["safetensors_headers"] = headers
    return out


def input_hashes(init: str, datasets: list[Path], recipe) -> dict[str, Any]:
    """inputs.json: the model a stage starts from and the data it trains on, named as records name paths."""
    init_path = Path(init)
    model = model_fingerprint(init_path, recipe) if init_path.is_dir() else {"hub_id": init}
    files = {}
    for p in datasets:
        p = Path(p)
        if p.is_file():
            files[record_path(recipe, p)] = {"sha256": file_digest(p), "bytes": p.stat().st_size}
    return {"init": model, "datasets": files}
