"""Crash-safe checkpoints: write to a temporary folder, then rename, so a checkpoint is never half written.

Training progress (step counters, the β schedule) is kept as JSON inside each checkpoint folder rather than through
accelerate's custom-state path, which pickles it and needs ``torch.load(weights_only=False)`` to read it back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

CHECKPOINT_PATTERN = re.compile(r"^step-(\d+)$")
TEMPORARY_PATTERN = re.compile(r"^\.step-(\d+)\.tmp$")
TRAINING_STATE = "training_state.json"
EXTRA_TENSORS = "extra_tensors.safetensors"


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


def remove_checkpoints(root: str | os.PathLike) -> None:
    """Delete the checkpoints (and interrupted temporary ones) under ``root``, and ``root`` if that empties it; any
    other file there is kept."""
    root = Path(root)
    if not root.is_dir():
        return
    for path in root.iterdir():
        if path.is_dir() and (CHECKPOINT_PATTERN.match(path.name) or TEMPORARY_PATTERN.match(path.name)):
            shutil.rmtree(path)
    if not any(root.iterdir()):
        root.rmdir()


def save_atomically(accelerator, root: str | os.PathLike, step: int, keep: int = 2,
                    training_state: dict | None = None, extra_tensors: dict | None = None) -> Path:
    """``accelerator.save_state`` into ``root/step-N`` via a temporary folder and a rename; keeps the last ``keep``.

    ``training_state`` (JSON values) is written next to the weights as ``training_state.json``; ``extra_tensors``
    (weights the accelerator does not hold, e.g. a decoder's LoRA adapter) as ``extra_tensors.safetensors``.
    """
    root = Path(root)
    final, temporary = root / f"step-{step}", root / f".step-{step}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(temporary, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if training_state is not None:
            (temporary / TRAINING_STATE).write_text(json.dumps(training_state, indent=2, allow_nan=False))
        if extra_tensors is not None:
            save_file({name: tensor.detach().cpu().contiguous() for name, tensor in extra_tensors.items()},
                      temporary / EXTRA_TENSORS)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(temporary, final)
        for old in checkpoint_dirs(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def read_training_state(checkpoint: str | os.PathLike) -> dict:
    """The ``training_state`` a checkpoint was saved with."""
    path = Path(checkpoint) / TRAINING_STATE
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {str(checkpoint)!r} has no {TRAINING_STATE}; it cannot be resumed.")
    return json.loads(path.read_text())


def read_extra_tensors(checkpoint: str | os.PathLike) -> dict:
    """The ``extra_tensors`` a checkpoint was saved with."""
    return load_file(Path(checkpoint) / EXTRA_TENSORS)
