"""What the user is told about bad input: UserError stops (the CLI makes it one line, exit 2); warn goes on."""
from __future__ import annotations

import sys

_said: set[str] = set()


class UserError(Exception):
    """Bad input or an impossible request: the message names what is wrong, where, and what to do."""


def warn(message: str) -> None:
    """One line on stderr, once per process: plan, deploy and the doctor read the same records many times."""
    if message not in _said:
        _said.add(message)
        print(f"warning: {message}", file=sys.stderr, flush=True)
