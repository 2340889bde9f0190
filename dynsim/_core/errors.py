"""The one exception type that user-facing entry points turn into a one-line message."""

from __future__ import annotations


class DynsimInputError(ValueError):
    """Invalid input: a parameter out of its range, a malformed array, an empty range.

    ``name`` is the parameter's name as in the papers (``eta``, ``alpha_p``...), so that a
    command-line front end can point at the option that set it (``None`` for positional input).
    """

    def __init__(self, name: str | None, message: str):
        self.name = name
        super().__init__(message)
