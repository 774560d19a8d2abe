"""Sampling many records into a folder of Parquet shards: bounded memory, resumable, and spread over processes.

Shard ``i`` holds rows ``[i * shard_size, (i + 1) * shard_size)`` and is sampled from its own seed, derived from
``(seed, i)``: so a shard's rows do not depend on which process wrote it or on whether the run was interrupted, a
rerun with the same settings skips the shards already on disk, and ``accelerate launch`` (``PartialState``) can
hand the shards out to processes/GPUs. Each shard is written atomically once its rows are decoded; the folder
reads as one dataset with ``datasets.load_dataset("parquet", data_dir=folder)``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from accelerate import PartialState
from tqdm.auto import tqdm

from .table_sampling import write_table

SETTINGS_FILE = ".ldlm-sampling.json"  # hidden, so that `datasets` reads only the shards


def sampling_state() -> PartialState:
    """The process's place in an ``accelerate launch`` (a single process otherwise). On a machine without an
    accelerator, processes started by ``accelerate launch --multi_gpu --num_processes N`` share work over gloo."""
    return PartialState(cpu=not torch.accelerator.is_available())


def shard_seed(seed: int, shard: int) -> int:
    """The seed of shard ``shard``: independent streams per shard (numpy's ``SeedSequence``), reproducible."""
    return int(np.random.SeedSequence([seed, shard]).generate_state(1, dtype=np.uint64)[0] >> 1)


def shard_path(folder: Path, shard: int, num_shards: int) -> Path:
    return folder / f"shard-{shard:05d}-of-{num_shards:05d}.parquet"


def _check_settings(folder: Path, settings: dict) -> None:
    """Record the run's settings, or refuse to mix shards of a different run into the same folder."""
    path = folder / SETTINGS_FILE
    if path.exists():
        written = json.loads(path.read_text())
        if written != settings:
            changed = sorted(k for k in settings.keys() | written.keys() if settings.get(k) != written.get(k))
            raise ValueError(
                f"{folder} holds shards of a run with other settings ({', '.join(changed)} differ: "
                f"{ {k: written.get(k) for k in changed} } there, { {k: settings.get(k) for k in changed} } now). "
                "Use another folder, or the same settings to resume that run."
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(settings, indent=2, sort_keys=True))
    temporary.replace(path)


def write_shards(pipe, num_samples: int, folder, seed: int = 0, shard_size: int = 1000, **call_kwargs) -> dict:
    """Sample ``num_samples`` records from ``pipe`` into Parquet shards of ``shard_size`` rows under ``folder``.

    In a multi-process launch every process writes its share of the shards (``PartialState``), decoding on its
    own device (``pipe`` is moved there). Shards already
    present are skipped, so rerunning an interrupted command finishes it. Extra keyword arguments go to the
    pipeline call (``conditions``, ``guidance_scale``, ``constrained``...). Only valid records are written; returns
    ``{"rows": ..., "validity": ...}`` for the shards this process sampled now.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples}.")
    if shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size}.")
    folder, state = Path(folder), sampling_state()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file; shards need a folder.")
    num_shards = math.ceil(num_samples / shard_size)
    settings = {"num_samples": num_samples, "seed": seed, "shard_size": shard_size,
                **{key: value for key, value in call_kwargs.items() if value is not None}}
    settings = json.loads(json.dumps(settings, default=str))
    if state.is_main_process:
        _check_settings(folder, settings)
    state.wait_for_everyone()
    if not state.is_main_process:
        _check_settings(folder, settings)

    def rows_in(shard: int) -> int:
        return min(shard_size, num_samples - shard * shard_size)

    pipe = pipe.to(state.device)
    written, valid = 0, 0.0
    with state.split_between_processes(list(range(num_shards))) as mine:
        todo = [shard for shard in mine if not shard_path(folder, shard, num_shards).exists()]
        bar = tqdm(total=sum(rows_in(s) for s in mine), initial=sum(rows_in(s) for s in mine if s not in todo),
                   desc=f"sampling (process {state.process_index})" if state.num_processes > 1 else "sampling",
                   unit="row", position=state.process_index)
        with bar:
            for shard in todo:
                generator = torch.Generator().manual_seed(shard_seed(seed, shard))
                output = pipe(num_samples=rows_in(shard), generator=generator, output_type="pandas", **call_kwargs)
                write_table(output.records, shard_path(folder, shard, num_shards))
                written += rows_in(shard)
                valid += output.validity * rows_in(shard)
                bar.update(rows_in(shard))
                bar.set_postfix(validity=f"{valid / written:.3f}")
    state.wait_for_everyone()
    return {"rows": written, "validity": valid / written if written else None}
