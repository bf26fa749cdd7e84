"""`swift deploy` with its API key taken from the environment (run as `python -m swiftplus.serve.keyed FLAGS`).

ms-swift takes the key only as `--api_key KEY`: in argv it shows in `ps` to every user of the machine, and
ms-swift logs its parsed arguments. Here the key is read from SWIFTPLUS_API_KEY (and removed from this
process's environment), handed to ms-swift's own deploy_main in-process, and masked in the arguments'
repr, so the log shows *** in its place. Everything else is exactly what `swift deploy FLAGS` runs.
"""
from __future__ import annotations

import os
import sys

from swiftplus.core.secrets import KEY_ENV, MASK


def masked_repr(cls):
    """A repr for ms-swift's DeployArguments that shows the key as ***."""
    plain = cls.__repr__

    def __repr__(self):
        key = getattr(self, "api_key", None)
        return plain(self).replace(repr(key), repr(MASK)) if key else plain(self)

    return __repr__


def main(argv: list[str]) -> None:
    key = os.environ.pop(KEY_ENV, None)
    if not key:
        raise SystemExit(f"{KEY_ENV} is not set: swiftplus starts this module only with an API key")
    from swift.arguments import DeployArguments
    from swift.pipelines import deploy_main

    DeployArguments.__repr__ = masked_repr(DeployArguments)
    deploy_main([*argv, "--api_key", key])


if __name__ == "__main__":
    main(sys.argv[1:])
