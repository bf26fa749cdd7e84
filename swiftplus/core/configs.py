"""A model directory's config.json, read one way: one reader, one error naming what it tried.

Every package that asks a checkpoint what it is (the graft, the doctor, serving, the rehearsal) reads
config.json here. A directory without one is a question the caller answers (a hub id not yet downloaded,
LoRA adapters); a config.json that is there but broken is always the same error.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from swiftplus.core.errors import UserError

CONFIG = "config.json"


def read_json_file(path: str | Path, what: str = "file") -> Any:
    """A JSON file's content; a UserError naming the file and what it is for when it is missing or broken."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} {path.parent} has no {path.name}; is this a Hugging Face model "
                        "directory?") from None
    except OSError as e:
        raise UserError(f"{what} {path}: cannot be read ({e.strerror or e})") from None
    try:
        return json.loads(text)
    except ValueError as e:
        raise UserError(f"{what} {path}: not valid JSON ({e}); re-download or rewrite it") from None


def read_config(model_dir: str | Path, what: str = "model") -> dict:
    """config.json of `model_dir` as a dict; the one error when it is missing, unreadable or not an object."""
    value = read_json_file(Path(model_dir) / CONFIG, what)
    if not isinstance(value, dict):
        raise UserError(f"{what} {Path(model_dir) / CONFIG}: holds a JSON {type(value).__name__}, not an object")
    return value


def config_if_present(model_dir: str | Path, what: str = "model") -> dict | None:
    """read_config, or None where `model_dir` has no config.json (a hub id, a LoRA adapter directory)."""
    if not (Path(model_dir) / CONFIG).is_file():
        return None
    return read_config(model_dir, what)


def optional_json(path: str | Path, what: str = "file") -> Any:
    """A JSON file that may be absent (None); a broken one is the same error as read_json_file's."""
    return read_json_file(path, what) if Path(path).is_file() else None
