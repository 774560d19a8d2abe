"""Crash-safe checkpoints: write to a temporary folder, then rename, so a checkpoint is never half written."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

CHECKPOINT_PATTERN = re.compile(r"^step-(\d+)$")


def checkpoint_dirs(root: str | os.PathLike) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first (temporary folders of an interrupted save are ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name)) and p.is_dir()]
    return [path for _, path in sorted(found)]


def resolve_checkpoint(root: str | os.PathLike, requested: str) -> Path:
    """``"latest"`` or a path -> an existing checkpoint folder, with a clear error otherwise."""
    if requested == "latest":
        found = checkpoint_dirs(root)
        if not found:
            raise FileNotFoundError(f"No checkpoint to resume from under {root}.")
        return found[-1]
    path = Path(requested)
    if not path.is_dir():
        raise FileNotFoundError(f"Checkpoint {requested!r} does not exist.")
    return path


def save_atomically(accelerator, root: str | os.PathLike, step: int, keep: int = 2) -> Path:
    """``accelerator.save_state`` into ``root/step-N`` via a temporary folder and a rename; keeps the last ``keep``."""
    root = Path(root)
    final, temporary = root / f"step-{step}", root / f".step-{step}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(temporary, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(temporary, final)
        for old in checkpoint_dirs(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def save_pretrained_atomically(model, directory: str | os.PathLike, **kwargs) -> None:
    """``model.save_pretrained`` into a temporary sibling folder, then swap it in."""
    directory = Path(directory)
    temporary = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    model.save_pretrained(temporary, **kwargs)
    if directory.exists():
        old = directory.with_name(f".{directory.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
        os.replace(temporary, directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temporary, directory)


def write_json_atomically(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as JSON through a temporary sibling file and a rename (never a half-written file)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, path)
