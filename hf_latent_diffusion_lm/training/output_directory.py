"""Where a trained pipeline may be written: never over someone else's files.

A user who points ``--out`` at a folder holding their own files (their data, say) must not lose them: such a folder
is refused unless they pass ``--overwrite``, and even then only the files a pipeline consists of are replaced
(see :func:`.checkpointing.save_pretrained_atomically`), nothing else is deleted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

PIPELINE_CLASS = "LatentDiffusionLMPipeline"
# Files whose presence says a folder is one we wrote: a saved pipeline, or training state (stage 1).
OWN_MARKERS = ("training_config.json", "training/training_config.json")


def is_pipeline_directory(path: Path) -> bool:
    """A folder ``save_pretrained`` wrote: its ``model_index.json`` names our pipeline class."""
    try:
        return json.loads((path / "model_index.json").read_text()).get("_class_name") == PIPELINE_CLASS
    except (OSError, ValueError, AttributeError):
        return False


def check_output_directory(path: str | os.PathLike, overwrite: bool = False) -> None:
    """Raise before any training when ``path`` is a file, or a non-empty folder that is neither a pipeline nor our
    training state and ``overwrite`` is not set."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {str(path)!r} is a file; a pipeline is a directory. Name a directory.")
    if overwrite or not path.is_dir() or is_pipeline_directory(path) or any((path / m).is_file() for m in OWN_MARKERS):
        return
    found = sorted(entry.name for entry in path.iterdir())
    if found:
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        raise ValueError(
            f"--out {str(path)!r} is not empty ({shown}) and is not a pipeline directory: choose a new directory, or "
            "pass --overwrite to write the pipeline into it (files named like the pipeline's, such as README.md and "
            "model_index.json, are replaced; all others are kept)."
        )
