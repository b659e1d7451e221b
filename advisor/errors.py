"""User-facing errors: the CLI prints their message (no traceback) and exits with code 2."""


class AdvisorError(Exception):
    """A mistake in the user's input or environment, explained in plain words.

    The message must say what went wrong and exactly what to do about it.
    """
