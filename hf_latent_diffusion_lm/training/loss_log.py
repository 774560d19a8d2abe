"""The CSV log of training losses, one row per optimizer step, that stays one row per step across resumes.

A run killed after its last checkpoint has logged steps that the resumed run trains again; those rows are dropped
when the run resumes so the log never repeats a step.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path


def open_loss_log(path: str | os.PathLike, header: list[str], resumed_step: int | None = None):
    """A ``(file, csv.writer)`` appending to ``path``: a new log with ``header``, or (``resumed_step`` given) the
    existing log without its rows after ``resumed_step`` (rewritten atomically)."""
    path = Path(path)
    if resumed_step is not None and path.is_file():
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        kept = [row for row in rows[1:] if row and int(row[0]) <= resumed_step]
        temporary = path.with_name(f".{path.name}.tmp")
        with open(temporary, "w", newline="") as handle:
            csv.writer(handle).writerows([rows[0] if rows else header, *kept])
        os.replace(temporary, path)
    else:
        with open(path, "w", newline="") as handle:
            csv.writer(handle).writerow(header)
    log = open(path, "a", newline="")
    return log, csv.writer(log)
