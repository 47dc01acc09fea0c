"""Run failures an operator can fix, each with a message that says what to do.

A job's ``main()`` prints such an error as one line on stderr and exits 1 (a failed run),
instead of a Python or Java trace.
"""

from __future__ import annotations


class RunError(RuntimeError):
    """A run cannot go on; the message names what is wrong and the way out."""


class TableNotFoundError(FileNotFoundError):
    """A Delta table was read before any job created it."""
