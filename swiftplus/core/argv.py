"""Render a flag mapping as the argv ms-swift's argument parser reads."""
from __future__ import annotations

import json
import shlex
from typing import Any, Iterable, Mapping

from swiftplus.core.secrets import redact_env


def flag_value(value: Any) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [json.dumps(v) if isinstance(v, dict) else flag_value(v)[0] for v in value]
    if isinstance(value, dict):
        return [json.dumps(value, ensure_ascii=False)]
    return [str(value)]


def flag_args(flags: Mapping[str, Any]) -> list[str]:
    """{'freeze_vit': True, 'dataset': ['a', 'b']} -> ['--freeze_vit', 'true', '--dataset', 'a', 'b']."""
    out: list[str] = []
    for key, value in flags.items():
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        if value is False and key.endswith("_strategy"):  # YAML 1.1 reads `eval_strategy: no` as false
            value = "no"
        out += [f"--{key}", *flag_value(value)]
    return out


def shell_line(argv: Iterable[str], env: Mapping[str, str] | None = None) -> str:
    """For display only (plan / --dry-run); commands themselves always run as argv lists. Secret-named
    variables are shown masked."""
    parts = [f"{k}={shlex.quote(str(v))}" for k, v in redact_env(env or {}).items()]
    return " ".join(parts + [shlex.quote(a) for a in argv])
