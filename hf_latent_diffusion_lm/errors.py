"""The errors a user can fix: the ``ldlm`` command prints them as one line and exits 2 (no traceback).

The library's convention is that bad input raises ``ValueError`` (or a subclass) naming the file, column or option,
and a missing or unreadable file an ``OSError``; :class:`UserInputError` wraps failures of other types that are
still the user's to fix (a damaged model directory), so the command line can tell them from bugs.
"""

from __future__ import annotations

import sys
from typing import Callable


class UserInputError(ValueError):
    """A problem with what the user gave (a file, a column, an option), with what to do about it."""


class UnknownColumnError(UserInputError, KeyError):
    """A column name the data or schema does not have (a ``KeyError`` too, as a mapping lookup raises)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


# What the command line reports as a user's error; everything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError)


def exit_status(program: str, run: Callable[[], object], debug: bool = False) -> int:
    """The exit status of a command running ``run()``: its own if it returns an int, else 0; a user's error prints
    one line ``program: error: ...`` and gives 2 (``debug``: raised again, with its traceback)."""
    try:
        status = run()
    except USER_ERRORS as error:
        if debug:
            raise
        print(f"{program}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) else 0
