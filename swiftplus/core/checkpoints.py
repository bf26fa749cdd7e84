"""What `swift sft --add_version false --output_dir OUT` and the graft leave behind, read without importing swift.

Facts (ms-swift 4.6, checked on real runs): OUT/checkpoint-N per save; OUT/last-checkpoint, a relative
symlink swapped in (os.replace) only after checkpoint-N is fully written; OUT/logging.jsonl with one line
per log step and, last, a summary holding last_model_checkpoint / best_model_checkpoint; the Trainer
writes checkpoint-N/trainer_state.json after the weights, optimizer and RNG state, so a checkpoint
without it was cut off mid-save. The graft's output is whole when its marker (GRAFT_MARKER, written last,
just before the output is renamed into place) is there.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

GRAFT_MARKER = "swiftplus_graft.json"
LAST_LINK = "last-checkpoint"
TRAINER_STATE = "trainer_state.json"
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int

    @property
    def is_adapter(self) -> bool:
        return (self.path / "adapter_config.json").is_file()


def checkpoints(output_dir: Path) -> list[Checkpoint]:
    """checkpoint-N directories, by step."""
    out = []
    try:
        entries = list(Path(output_dir).iterdir())
    except OSError:
        return []
    for p in entries:
        m = CHECKPOINT_RE.match(p.name)
        if m and p.is_dir() and not p.is_symlink():
            out.append(Checkpoint(p, int(m.group(1))))
    return sorted(out, key=lambda c: c.step)


def last_saved(output_dir: Path) -> Checkpoint | None:
    """The newest checkpoint that was completely written: the `last-checkpoint` link, else the newest
    checkpoint-N holding trainer_state.json (for filesystems without symlinks)."""
    output_dir = Path(output_dir)
    link = output_dir / LAST_LINK
    if link.is_symlink():
        target = (output_dir / os.readlink(link)).resolve()
        m = CHECKPOINT_RE.match(target.name)
        if m and target.is_dir():
            return Checkpoint(target, int(m.group(1)))
    for ckpt in reversed(checkpoints(output_dir)):
        if (ckpt.path / TRAINER_STATE).is_file():
            return ckpt
    return None


def run_summary(output_dir: Path) -> dict:
    """swift's closing line of logging.jsonl (last_model_checkpoint, global_step, ...) of the latest attempt."""
    try:
        lines = (Path(output_dir) / "logging.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "last_model_checkpoint" in row:
            return row
    return {}


def missing_files(ckpt: Path) -> list[str]:
    """What a checkpoint lacks to be loaded: weights (every shard its index names) and config."""
    ckpt = Path(ckpt)
    if (ckpt / "adapter_config.json").is_file():
        has = any((ckpt / n).is_file() for n in ("adapter_model.safetensors", "adapter_model.bin"))
        return [] if has else ["adapter_model.safetensors"]
    missing = [] if (ckpt / "config.json").is_file() else ["config.json"]
    index = ckpt / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError):
            return missing + [f"{index.name} (unreadable)"]
        missing += sorted(s for s in shards if not (ckpt / s).is_file())
    elif not (ckpt / "model.safetensors").is_file() and not (ckpt / "pytorch_model.bin").is_file():
        missing.append("model.safetensors")
    return missing


def is_graft_output(directory: Path) -> bool:
    return (Path(directory) / GRAFT_MARKER).is_file()


def trainer_state(ckpt: Path) -> dict:
    try:
        return json.loads((Path(ckpt) / TRAINER_STATE).read_text())
    except (OSError, ValueError):
        return {}


def best_checkpoint(ckpt: Path) -> Path | None:
    """The Trainer's best_model_checkpoint (set only when the stage evaluates with a metric)."""
    best = trainer_state(ckpt).get("best_model_checkpoint")
    if not best:
        return None
    best_path = Path(best)
    if not best_path.is_absolute():
        best_path = Path(ckpt).parent / best_path.name
    return best_path if best_path.is_dir() else None


def progress(ckpt: Path) -> str:
    """'step 2 of 10' from trainer_state.json, for messages."""
    state = trainer_state(ckpt)
    step, total = state.get("global_step"), state.get("max_steps")
    if step is None:
        return Path(ckpt).name
    return f"step {step} of {total}" if total else f"step {step}"
