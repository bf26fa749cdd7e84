"""ms-swift plugins (`--external_plugins FILE`) that register model types and templates ms-swift lacks.

Recipes name them under `plugins:`; swiftplus passes the file to every swift command.
"""
from __future__ import annotations

from pathlib import Path

PLUGINS_DIR = Path(__file__).resolve().parent


def available_plugins() -> list[str]:
    return sorted(p.stem for p in PLUGINS_DIR.glob("*.py") if p.stem != "__init__")


def plugin_paths(names: list[str]) -> list[str]:
    """The files a recipe's `plugins:` names, as swift's --external_plugins takes them."""
    return [str(PLUGINS_DIR / f"{name}.py") for name in names]

