"""The one exception type the CLI turns into a clean message (no traceback, exit 2)."""


class UserError(Exception):
    """Bad input or an impossible request: the message names what is wrong, where, and what to do."""
