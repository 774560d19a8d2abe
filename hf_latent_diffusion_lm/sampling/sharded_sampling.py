"""Sampling many records into a folder of Parquet shards: bounded memory, resumable, and spread over processes.

Shard ``i`` holds rows ``[i * shard_size, (i + 1) * shard_size)`` and is sampled from its own seed, derived from
``(seed, i)``: so a shard's rows do not depend on which process wrote it or on whether the run was interrupted, a
rerun with the same settings skips the shards already on disk, and ``accelerate launch`` (``PartialState``) can
hand the shards out to processes/GPUs. Each shard is written atomically once its rows are decoded; the folder
reads as one dataset with ``datasets.load_dataset("parquet", data_dir=folder)``. A shard holding fewer rows than
its share (rows that did not parse, or that the privacy guard dropped) is not complete: a rerun samples it again.

The run's settings, the model's fingerprint among them, are recorded in the folder with its first shard (not
before: a run refused by the pipeline leaves nothing behind), and a run with other settings or another model is
refused rather than mixed in.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from accelerate import PartialState
from tqdm.auto import tqdm

from ..decoder_reference import weight_fingerprint
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


def model_fingerprint(pipe) -> dict:
    """What identifies the model that writes a folder's shards: its trained weights (a hash of a sample of each
    tensor, so a retrained model with the same configs differs too), its frozen decoder's fingerprint and its schema."""
    schema = json.dumps(pipe.config.schema, sort_keys=True, default=str)
    return {"vae": weight_fingerprint(pipe.vae)[0], "denoiser": weight_fingerprint(pipe.denoiser)[0],
            "decoder": pipe.decoder_reference.fingerprint,
            "schema": hashlib.sha256(schema.encode("utf-8")).hexdigest()[:16]}


def _flat(settings: dict) -> dict:
    """``{"model": {"vae": ...}}`` -> ``{"model.vae": ...}``, so that a mismatch names the part that differs."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{part}": inner for part, inner in value.items()})
        else:
            flat[key] = value
    return flat


def _check_settings(folder: Path, settings: dict) -> None:
    """Refuse to mix shards of a different run (other settings or another model) into the same folder."""
    path = folder / SETTINGS_FILE
    if not path.exists():
        return
    written, now = _flat(json.loads(path.read_text())), _flat(settings)
    changed = sorted(key for key in written.keys() | now.keys() if written.get(key) != now.get(key))
    if changed:
        raise ValueError(
            f"{folder} holds shards of a run with other settings ({', '.join(changed)} differ: "
            f"{ {k: written.get(k) for k in changed} } there, { {k: now.get(k) for k in changed} } now). "
            "Use another folder, or the same model and settings to resume that run."
        )


def _record_settings(folder: Path, settings: dict) -> None:
    """Write the run's settings before its first shard (each process writes them, atomically, if none has yet)."""
    _check_settings(folder, settings)  # another process may have recorded them since the run started
    path = folder / SETTINGS_FILE
    if path.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(settings, indent=2, sort_keys=True))
    temporary.replace(path)


def rows_on_disk(path: Path) -> int:
    """Rows of a written shard (0 if it is not there)."""
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows if path.exists() else 0


def write_shards(pipe, num_samples: int, folder, seed: int = 0, shard_size: int = 1000, **call_kwargs) -> dict:
    """Sample ``num_samples`` records from ``pipe`` into Parquet shards of ``shard_size`` rows under ``folder``.

    In a multi-process launch every process writes its share of the shards (``PartialState``), decoding on its
    own device (``pipe`` is moved there). Shards already complete are skipped, so rerunning an interrupted command
    finishes it, and a short shard is sampled again. Extra keyword arguments go to the pipeline call
    (``conditions``, ``guidance_scale``, ``constrained``, ``privacy``...). Only valid records are written; returns
    ``{"rows": ..., "validity": ...}`` for the shards this process sampled now, and ``"missing"``: the rows the
    folder lacks once every process is done.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples}.")
    if shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size}.")
    folder, state = Path(folder), sampling_state()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file; shards need a folder.")
    num_shards = math.ceil(num_samples / shard_size)
    settings = {"num_samples": num_samples, "seed": seed, "shard_size": shard_size, "model": model_fingerprint(pipe),
                **{key: value for key, value in call_kwargs.items() if value is not None}}
    settings = json.loads(json.dumps(settings, default=str))
    _check_settings(folder, settings)

    def rows_in(shard: int) -> int:
        return min(shard_size, num_samples - shard * shard_size)

    pipe = pipe.to(state.device)
    sampled, valid = 0, 0.0
    with state.split_between_processes(list(range(num_shards))) as mine:
        done = {shard: rows_on_disk(shard_path(folder, shard, num_shards)) for shard in mine}
        todo = [shard for shard in mine if done[shard] < rows_in(shard)]
        bar = tqdm(total=sum(rows_in(s) for s in mine), initial=sum(done[s] for s in mine if s not in todo),
                   desc=f"sampling (process {state.process_index})" if state.num_processes > 1 else "sampling",
                   unit="row", position=state.process_index)
        with bar:
            for shard in todo:
                generator = torch.Generator().manual_seed(shard_seed(seed, shard))
                output = pipe(num_samples=rows_in(shard), generator=generator, output_type="pandas", **call_kwargs)
                if len(output.records) > done[shard]:  # never replace a shard by a shorter one
                    _record_settings(folder, settings)
                    write_table(output.records, shard_path(folder, shard, num_shards))
                sampled += rows_in(shard)
                valid += output.validity * rows_in(shard)
                bar.update(len(output.records))
                bar.set_postfix(validity=f"{valid / sampled:.3f}")
    state.wait_for_everyone()
    missing = num_samples - sum(rows_on_disk(shard_path(folder, shard, num_shards)) for shard in range(num_shards))
    return {"rows": sampled, "validity": valid / sampled if sampled else None, "missing": missing}
