"""The ms-swift releases swiftplus is tested against, and the versions a run directory records.

ms-swift renames flags between minor releases (4.x: `--tuner_type`, not `--train_type`), so a version
outside the tested range fails at start with the remedy, not forty flags later after the model loaded.
Versions are read from package metadata: nothing heavy is imported.
"""
from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from swiftplus.errors import UserError

# Keep in step with pyproject.toml's `ms-swift>=4.6,<4.7` (a test checks they agree).
SWIFT_RANGE = ">=4.6,<4.7"
RECORDED = ("swiftplus", "ms-swift", "transformers", "torch", "torchvision", "peft", "accelerate", "deepspeed",
            "flash-attn", "safetensors", "datasets", "qwen-vl-utils")


def installed(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def check_swift_version(found: str | None = None, allowed: str = SWIFT_RANGE) -> str:
    """The installed ms-swift version, or one clear error when it is missing or outside the tested range."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    found = installed("ms-swift") if found is None else found
    if found is None:
        raise UserError(f"ms-swift is not installed in this environment ({_python()}); "
                        f"run `make install` or `pip install 'ms-swift{allowed}'`")
    try:
        ok = Version(found) in SpecifierSet(allowed, prereleases=True)
    except InvalidVersion:
        ok = False
    if not ok:
        raise UserError(f"ms-swift {found} is installed, but swiftplus is tested with ms-swift{allowed} "
                        f"(ms-swift renames flags between minor releases). "
                        f"Install a tested release: pip install 'ms-swift{allowed}'")
    return found


def _python() -> str:
    import sys

    return sys.executable


def versions() -> dict[str, str | None]:
    """What a run directory records: python and the packages that decide how training behaves."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in RECORDED:
        out[dist] = installed(dist)
    if out["swiftplus"] is None:  # run from a checkout (PYTHONPATH), not installed
        from swiftplus import __version__

        out["swiftplus"] = __version__
    return out
