"""Sampling nested JSON records (``ldlm sample`` on a JSON-record model), with tool-call consistency.

The JSON-Schema grammar makes every record parse and validate, but cannot tie a call to the functions offered in
the same record. With ``tool_call_consistency`` the calls are decoded under a grammar of the record's own functions
(:mod:`.data.tool_call_grammar`), and a record whose calls still do not fit (:mod:`.data.tool_call_validity`; e.g.
where that grammar had to be dropped, or decoding is unconstrained) is re-drawn, a bounded number of rounds, and
the re-draws are counted. Records go to one JSON Lines file, never to a name that promises another format.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers.utils import logging
from tqdm.auto import tqdm

from .data.record_schemas import JSON_LINES_SUFFIXES
from .data.tool_call_validity import TOOL_CALL_KEYS, is_tool_call_schema, tool_call_problems
from .pipelines.sampling_options import DecodingOptions

logger = logging.get_logger(__name__)
DEFAULT_MAX_ROUNDS = 10


def check_records_file(path: str | os.PathLike) -> Path:
    """Nested records are written as JSON Lines: refuse a folder or any other suffix before sampling, not after."""
    allowed = " or ".join(JSON_LINES_SUFFIXES)
    if str(path).endswith(("/", os.sep)) or Path(path).is_dir():
        raise ValueError(f"--out {str(path)!r} is a folder; nested JSON records are written to one {allowed} file "
                         "(shards are for table models).")
    if Path(path).suffix.lower() not in JSON_LINES_SUFFIXES:
        raise ValueError(f"Nested JSON records are written as JSON Lines; name a {allowed} file, not "
                         f"--out {str(path)!r}.")
    return Path(path)


@dataclass
class RecordSample:
    """Sampled records and what it took to get them.

    Args:
        records: ``num_samples`` records (fewer only when records that do not parse could not be replaced).
        schema_validity: share of the first draw that parses and validates against the schema.
        semantic_validity: share of ``records`` whose calls fit their functions (``None``: not tool-call data).
        first_draw_semantic_validity: the same share before any re-draw.
        redraws: records drawn again because they broke the schema or (with consistency on) their functions.
        privacy_redraws: records the privacy guard (``privacy=...``) drew again because they copied a training record.
    """

    records: list[dict]
    schema_validity: float
    semantic_validity: float | None = None
    first_draw_semantic_validity: float | None = None
    redraws: int = 0
    privacy_redraws: int = 0
    problems: list[list[str]] = field(default_factory=list, repr=False)


def sample_records(
    pipe,
    num_samples: int,
    seed: int = 0,
    tool_call_consistency: bool | None = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    decoding: DecodingOptions | dict | None = None,
    **call_kwargs,
) -> RecordSample:
    """``num_samples`` records from ``pipe`` (``decoding`` and ``call_kwargs`` go to the pipeline call).

    ``tool_call_consistency`` (default: on when the schema has ``functions`` and ``calls``) decodes calls under a
    grammar of their record's functions and re-draws records whose calls still break them, at most ``max_rounds``
    rounds; what is still invalid then is kept and reported.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples}.")
    tool_calls = is_tool_call_schema(pipe.schema)
    consistency = tool_calls if tool_call_consistency is None else tool_call_consistency
    if consistency and not tool_calls:
        raise ValueError(f"tool_call_consistency needs records with {' and '.join(TOOL_CALL_KEYS)}; the "
                         f"schema has {pipe.schema.names}.")
    decoding = dataclasses.replace(DecodingOptions.of(decoding), tool_call_consistency=consistency)
    generator = torch.Generator().manual_seed(seed)
    kept, rejected, drawn, privacy_redraws, schema_validity, first_semantic = [], [], 0, 0, None, None
    with tqdm(total=num_samples, desc="sampling", unit="record") as bar:
        for _ in range(max_rounds):
            need = num_samples - len(kept)
            if need == 0:
                break
            output = pipe(num_samples=need, generator=generator, output_type="records", decoding=decoding,
                          **call_kwargs)
            drawn += need
            privacy_redraws += output.privacy_redraws or 0
            checked = [(record, tool_call_problems(record) if tool_calls else []) for record in output.records]
            if schema_validity is None:
                schema_validity = output.validity
                first_semantic = (sum(not p for _, p in checked) / need) if tool_calls else None
            for record, problems in checked:
                (rejected if problems and consistency else kept).append((record, problems))
            bar.update(len(kept) - bar.n)
    kept += rejected[: num_samples - len(kept)]
    records = [record for record, _ in kept]
    problems = [found for _, found in kept]
    invalid = sum(bool(found) for found in problems)
    if not consistency and invalid:
        logger.warning(f"{invalid} of {len(records)} records break their functions (tool-call consistency is off, so "
                       "none was re-drawn).")
    elif invalid or len(records) < num_samples:
        logger.warning(f"After {max_rounds} rounds, {invalid} of {len(records)} records still break their functions "
                       f"and {num_samples - len(records)} could not be drawn valid; the rest are kept.")
    semantic = (1 - invalid / len(records)) if tool_calls and records else None
    return RecordSample(records, schema_validity, semantic, first_semantic, drawn - num_samples, privacy_redraws,
                        problems)
