"""The errors a user can fix: the ``ldlm`` command prints them as one line and exits 2 (no traceback).

The library's convention is that bad input raises ``ValueError`` (or a subclass) naming the file, column or option,
and a missing or unreadable file an ``OSError``; :class:`UserInputError` wraps failures of other types that are
still the user's to fix (a damaged model directory), so the command line can tell them from bugs.
"""

from __future__ import annotations


class UserInputError(ValueError):
    """A problem with what the user gave (a file, a column, an option), with what to do about it."""


class UnknownColumnError(UserInputError, KeyError):
    """A column name the data or schema does not have (a ``KeyError`` too, as a mapping lookup raises)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


# What the command line reports as a user's error; everything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError)
