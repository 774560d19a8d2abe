"""Saving into a folder that may hold other files: file by file, never a half-written file, never a file the save
did not write.

``save_pretrained`` writes into a temporary sibling folder; each file it wrote then replaces its namesake with an
atomic rename, at any depth, and the folder's manifest (``.ldlm-saved-files.json``) lists them. A later save of the
same folder removes the files the previous one listed and this one did not write (a weight file once sharded, say),
and nothing else: a user's ``notes.txt`` in ``vae/`` stays. :func:`remove_saved` deletes what a save wrote, the same
way. Used by every layer (models, the privacy guard, training), so it sits below them all.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

MANIFEST = ".ldlm-saved-files.json"


def write_json_atomically(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as JSON through a temporary sibling file and a rename (never a half-written file)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, path)


def saved_files(directory: str | os.PathLike) -> list[str]:
    """The files (relative POSIX paths) the last :func:`save_pretrained_atomically` of ``directory`` wrote."""
    try:
        return list(json.loads((Path(directory) / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _files_under(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if not path.is_dir())


def _remove_files(directory: Path, names) -> None:
    """Delete ``names`` under ``directory``, then each folder that deleting them left empty (not ``directory``)."""
    for name in names:
        path = directory / name
        path.unlink(missing_ok=True)
        parent = path.parent
        while parent != directory and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def save_pretrained_atomically(model, directory: str | os.PathLike, **kwargs) -> None:
    """``model.save_pretrained`` into a temporary sibling folder, then move each file it wrote into ``directory``."""
    directory = Path(directory)
    temporary = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    model.save_pretrained(temporary, **kwargs)
    written = _files_under(temporary)
    stale = set(saved_files(directory)) - set(written)
    for name in written:
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary / name, target)
    _remove_files(directory, sorted(stale))
    write_json_atomically(directory / MANIFEST, {"files": written})
    shutil.rmtree(temporary, ignore_errors=True)


def remove_saved(directory: str | os.PathLike) -> None:
    """Delete what :func:`save_pretrained_atomically` wrote into ``directory`` (and the folder, if that empties it)."""
    directory = Path(directory)
    if not directory.is_dir():
        return
    _remove_files(directory, saved_files(directory))
    (directory / MANIFEST).unlink(missing_ok=True)
    if not any(directory.iterdir()):
        directory.rmdir()
