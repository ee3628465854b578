"""User-facing errors: the CLI prints their message on one line and exits non-zero,
without a traceback. Anything else is a bug and keeps its traceback."""


class SemclipError(Exception):
    """A problem the user can fix (bad input, missing data, mismatched checkpoint)."""
