"""The one error type the CLI turns into a one-line message."""


class UserError(Exception):
    """A problem the person running the command can fix (bad input, missing file, ...)."""
