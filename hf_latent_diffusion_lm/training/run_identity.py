"""What a resumed run must share with the run it continues, checked before any model is built.

A checkpoint continued on other rows, or with options that change the model or the batches, would train on without
a word, or fail deep inside ``load_state_dict``. Stage 1 writes ``run_identity.json`` beside its checkpoints: a
fingerprint of the training rows (SHA-256 of their values: no row can be read back from it) and the options below;
``--resume`` compares and names what differs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from ..atomic_saving import write_json_atomically
from .config_flags import VAE_FLAGS

RUN_IDENTITY = "run_identity.json"
# Options that shape the model, the records or the order of the batches; the rest (steps, evaluation, budget) may
# change on resume.
RESUME_MUST_MATCH = ("preset", "encoder", "decoder", "decoder_gguf_file", "injection_method", "decoder_layers",
                     "latent_dim", "num_soft_tokens", "record_format", "decoder_lora_rank", "columns", "max_rows",
                     "target", "min_category_count", "range_quantile", "read_options", "schema", "max_length", "validation_fraction", "batch_size",
                     "gradient_accumulation_steps", "learning_rate", "seed")


def data_fingerprint(frame) -> str:
    """SHA-256 of a table's column names and values (or of nested records' canonical JSON), independent of the
    file it came from."""
    digest = hashlib.sha256()
    if isinstance(frame, pd.DataFrame):
        digest.update(json.dumps([str(name) for name in frame.columns]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    else:
        for record in frame:
            digest.update(json.dumps(record, sort_keys=True, default=str).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def write_run_identity(output: Path, config, frame) -> None:
    write_json_atomically(output / RUN_IDENTITY, {
        "rows": len(frame), "data_sha256": data_fingerprint(frame),
        "options": {name: asdict(config)[name] for name in RESUME_MUST_MATCH}})


def check_resume(output: Path, config, frame) -> None:
    """Raise, naming what differs, unless ``frame`` and ``config`` match the run whose checkpoints are in
    ``output``."""
    path = output / RUN_IDENTITY
    if not path.is_file():
        raise ValueError(f"Cannot resume: {output} holds no {RUN_IDENTITY} (no stage-1 run of this version started "
                         "there). Start a new run without --resume.")
    saved = json.loads(path.read_text())
    if saved["data_sha256"] != data_fingerprint(frame):
        raise ValueError(f"Cannot resume: the data differs from the run being resumed ({saved['rows']} rows then, "
                         f"{len(frame)} now, different values). Resume with the same data, or start a new run "
                         "without --resume.")
    options = asdict(config)
    differs = [f"{VAE_FLAGS.flag(name)} {saved['options'].get(name)!r} then, {options[name]!r} now"
               for name in RESUME_MUST_MATCH if saved["options"].get(name) != options[name]]
    if differs:
        raise ValueError(f"Cannot resume with other options: {'; '.join(differs)}. Resume with the run's options, or "
                         "start a new run without --resume.")
