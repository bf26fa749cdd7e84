"""Model references -> local directories: a local path as it is, or a hub id through ModelScope's or
Hugging Face's snapshot download into their cache. (`fixture:NAME`, a tiny model built offline, is
resolved by graft/recipe.py, which may import the fixtures.)"""
from __future__ import annotations

import os
import re
from pathlib import Path

from swiftplus.core.errors import UserError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(ref: str) -> bool:
    """The one rule: `Org/Name` as both hubs spell repos, and not a path that exists here (a local directory
    named like a repo is local). A path that does not exist yet (`./out`, `/data/x`, `a/b/c`) is not a hub id."""
    return bool(HUB_ID.match(str(ref))) and not Path(str(ref)).expanduser().exists()


def cache_root() -> Path:
    return Path(os.environ.get("SWIFTPLUS_CACHE", Path.home() / ".cache" / "swiftplus"))


def describe(ref: str) -> str:
    if ref.startswith("fixture:"):
        return f"tiny fixture {ref.split(':', 1)[1]} (built locally)"
    if Path(ref).exists():
        return f"local {ref}"
    return f"hub {ref}"


def resolve_model(ref: str, hub: str = "modelscope", *, what: str = "model") -> Path:
    """Never guesses: an unknown reference is an error naming what was tried."""
    path = Path(ref).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise UserError(f"{what} {ref}: not a model directory (no config.json in it)")
        return path
    if not is_hub_id(ref):
        raise UserError(f"{what} {ref}: no such directory, and not a hub id like Org/Name")
    return _download(ref, hub, what)


def _offline() -> bool:
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes") for k in ("HF_HUB_OFFLINE", "MODELSCOPE_OFFLINE"))


def _download(ref: str, hub: str, what: str) -> Path:
    try:
        if hub == "hf":
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(ref, local_files_only=_offline()))
        from modelscope import snapshot_download

        return Path(snapshot_download(ref, local_files_only=_offline()))
    except UserError:
        raise
    except Exception as e:  # the hubs raise many types; the user needs the reference and the remedy
        raise UserError(f"{what} {ref}: could not get it from {hub} ({type(e).__name__}: {e}). "
                        f"Download it first (e.g. `modelscope download --model {ref}`) and put its local path "
                        f"in the recipe, or set hub: hf / hub: modelscope.") from None
