"""Secrets (API keys, tokens) never land in argv, records, logs or printed plans.

A key travels to the process that needs it in that process's environment, under KEY_ENV; what swiftplus
writes or prints shows MASK (or, in a config the child fills in, PLACEHOLDER) instead of its value.
"""
from __future__ import annotations

from typing import Any, Mapping

KEY_ENV = "SWIFTPLUS_API_KEY"
MASK = "***"
# Written where a child process's config needs the key; the child replaces it with KEY_ENV's value.
PLACEHOLDER = f"<{KEY_ENV}>"
SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "CREDENTIAL")


def is_secret(name: str) -> bool:
    return any(word in str(name).upper() for word in SECRET_WORDS)


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """An environment as it may be shown: secret-named variables masked."""
    return {k: (MASK if is_secret(k) and v else v) for k, v in env.items()}


def redact(data: Any) -> Any:
    """A mapping (a recipe, a config) as it may be recorded: every secret-named key's value masked."""
    if isinstance(data, dict):
        return {k: (MASK if is_secret(k) and v not in (None, "", "EMPTY", PLACEHOLDER) else redact(v))
                for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


def fill_placeholder(data: Any, key: str) -> Any:
    """The inverse, inside the child: PLACEHOLDER strings replaced by the key."""
    if isinstance(data, dict):
        return {k: fill_placeholder(v, key) for k, v in data.items()}
    if isinstance(data, list):
        return [fill_placeholder(v, key) for v in data]
    return key if data == PLACEHOLDER else data
