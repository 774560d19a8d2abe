"""Sampling nested JSON records (``ldlm sample`` on a JSON-record model), with tool-call consistency.

The JSON-Schema grammar makes every record parse and validate, but cannot tie a call to the functions offered in
the same record. With ``tool_call_consistency`` the calls are decoded under a grammar of the record's own functions
(:mod:`..grammar.tool_call_grammar`), and a record whose calls still do not fit (:mod:`..data.tool_call_validity`; e.g.
where that grammar had to be dropped, or decoding is unconstrained) is re-drawn, a bounded number of rounds, and
the re-draws are counted. Records go to one JSON Lines file, never to a name that promises another format.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers.utils import logging

from ..data.record_schemas import JSON_LINES_SUFFIXES
from ..data.record_validity import checked_records
from ..data.tool_call_validity import TOOL_CALL_KEYS, is_tool_call_schema, tool_call_problems
from ..pipelines.redrawing import redraw_rejected
from ..pipelines.sampling_options import DecodingOptions, Privacy

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


class _RecordChecks:
    """What :func:`sample_records` draws again: a text that does not parse into a valid record, a record the privacy
    guard rejects, and (with consistency) a record whose calls break its functions. Remembers every verdict, so the
    counts and the final policy need no second parse."""

    def __init__(self, pipe, privacy: Privacy | None, consistency: bool, tool_calls: bool):
        self.pipe, self.privacy, self.consistency, self.tool_calls = pipe, privacy, consistency, tool_calls
        self.verdicts: dict[str, tuple[dict | None, list[str], bool]] = {}  # text -> (record, tool problems, guard)
        self.privacy_rejections = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        verdicts = self._judge(texts)
        self.privacy_rejections += sum(guarded for _, _, guarded in verdicts)
        return np.array([record is None or guarded or (self.consistency and bool(calls))
                         for record, calls, guarded in verdicts], dtype=bool)

    def _judge(self, texts: list[str]) -> list[tuple[dict | None, list[str], bool]]:
        checked = checked_records(self.pipe.schema, texts)
        valid = [index for index, (_, problems) in enumerate(checked) if not problems]
        guarded = np.zeros(len(texts), dtype=bool)
        if self.privacy is not None and valid:
            guarded[valid] = self.pipe.privacy_guard.rejected(self.pipe.schema, [checked[i][0] for i in valid],
                                                              self.privacy.mode)
        verdicts = []
        for index, (record, problems) in enumerate(checked):
            record = None if problems else record
            calls = tool_call_problems(record) if self.tool_calls and record is not None else []
            verdicts.append((record, calls, bool(guarded[index])))
            self.verdicts[texts[index]] = verdicts[-1]
        return verdicts


def sample_records(
    pipe,
    num_samples: int,
    seed: int = 0,
    tool_call_consistency: bool | None = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    decoding: DecodingOptions | dict | None = None,
    privacy: Privacy | str | None = None,
    **call_kwargs,
) -> RecordSample:
    """``num_samples`` records from ``pipe`` (``decoding`` and ``call_kwargs`` go to the pipeline call).

    Records that do not parse, that ``privacy`` rejects (as in ``pipe(..., privacy=...)``) or, with
    ``tool_call_consistency`` (default: on when the schema has ``functions`` and ``calls``), whose calls break their
    functions are drawn again (:func:`~..pipelines.redrawing.redraw_rejected`), at most ``max_rounds`` rounds. Then
    records still breaking their functions are kept and reported; those that do not parse or that the guard still
    rejects are left out.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples}.")
    tool_calls = is_tool_call_schema(pipe.schema)
    consistency = tool_calls if tool_call_consistency is None else tool_call_consistency
    if consistency and not tool_calls:
        raise ValueError(f"tool_call_consistency needs records with {' and '.join(TOOL_CALL_KEYS)}; the "
                         f"schema has {pipe.schema.names}.")
    decoding = dataclasses.replace(DecodingOptions.of(decoding), tool_call_consistency=consistency)
    privacy = Privacy.of(privacy)
    pipe.check_inputs(num_samples, None, decoding, privacy, "records")
    generator = torch.Generator().manual_seed(seed)
    checks = _RecordChecks(pipe, privacy, consistency, tool_calls)

    def draw(rows) -> tuple[list[str], torch.Tensor]:  # the pipeline shows each call's progress
        output = pipe(num_samples=len(rows), generator=generator, decoding=decoding, **call_kwargs)
        return output.texts, output.latents

    texts, latents = draw(np.arange(num_samples))
    redrawn = redraw_rejected(texts, latents, checks, draw, max_rounds)
    first = [checks.verdicts[text] for text in texts]
    left_out = {int(i) for i in redrawn.pending if checks.verdicts[redrawn.texts[i]][0] is None
                or checks.verdicts[redrawn.texts[i]][2]}
    kept = [checks.verdicts[text] for i, text in enumerate(redrawn.texts) if i not in left_out]
    records, problems = [record for record, _, _ in kept], [calls for _, calls, _ in kept]
    invalid = sum(bool(found) for found in problems)
    if not consistency and invalid:
        logger.warning(f"{invalid} of {len(records)} records break their functions (tool-call consistency is off, so "
                       "none was re-drawn).")
    elif invalid or len(records) < num_samples:
        logger.warning(f"After {max_rounds} rounds, {invalid} of {len(records)} records still break their functions "
                       f"and {num_samples - len(records)} could not be drawn valid; the rest are kept.")
    semantic = (1 - invalid / len(records)) if tool_calls and records else None
    first_semantic = (sum(record is not None and not calls for record, calls, _ in first) / num_samples
                      if tool_calls else None)
    schema_validity = sum(record is not None for record, _, _ in first) / num_samples
    privacy_redraws = checks.privacy_rejections - sum(checks.verdicts[redrawn.texts[i]][2] for i in redrawn.pending)
    return RecordSample(records, schema_validity, semantic, first_semantic, redrawn.redraws, privacy_redraws,
                        problems)
