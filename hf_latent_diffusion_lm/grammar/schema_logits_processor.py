"""Schema-constrained ``generate``: a ``transformers`` logits processor that only lets valid records be written (a thin
adapter over :class:`.RecordGrammar`, which the slot engine uses directly).

Built on xgrammar (maintained, used by vLLM/SGLang/TensorRT-LLM; compiles an EBNF grammar against a tokenizer once
and then computes each step's allowed-token bitmask in C++, multi-threaded over the batch). The grammar comes from
the schema's ``grammar`` (EBNF for tables, xgrammar's JSON-Schema grammar for nested records); after the record's
closing ``}`` only ``eos`` is allowed.
"""

from __future__ import annotations

from typing import Sequence

import torch
import xgrammar as xgr
from transformers import LogitsProcessor

from .record_grammar_state import RecordGrammar


class SchemaLogitsProcessor(LogitsProcessor):
    r"""Masks every token that would break ``schema``'s record format, category sets or ranges.

    Use as ``model.generate(..., logits_processor=LogitsProcessorList([processor]))``; one processor per
    ``generate`` call (it holds the batch's grammar state, a :class:`.RecordGrammar`). Works when the prompt is soft
    (``inputs_embeds``: the ``input_ids`` it sees are only generated tokens) and with a token prompt: the first call
    starts the records, every later call advances each row with the token chosen last. A finished row may only
    produce ``eos``.

    Why not ``xgrammar.contrib.hf.LogitsProcessor``: this one fills the whole batch's token bitmask in one batched
    xgrammar call, applies it on the logits' device, forces per-row fixed values, and lets a finished row write only
    ``eos`` (the contrib processor leaves finished rows free and fills masks row by row).

    Args:
        schema: the :class:`~hf_latent_diffusion_lm.data.TableSchema` or
            :class:`~hf_latent_diffusion_lm.data.JsonRecordSchema` records follow.
        tokenizer: the decoder's tokenizer (its ``eos_token_id`` ends each record).
        vocab_size: the width of the model's logits (``model.config.vocab_size``; may exceed the tokenizer's).
        fixed_values: ``{column: value}`` forced in every row, or a list with one such dict (or ``None``) per row.
        tool_call_consistency: for tool-use records (JSON with ``functions`` and ``calls``), also keep each row's
            calls to the functions it offers (:mod:`.tool_call_grammar`).
    """

    def __init__(self, schema, tokenizer, vocab_size: int, fixed_values: dict | Sequence[dict | None] | None = None,
                 tool_call_consistency: bool = True):
        self.grammar = RecordGrammar(schema, tokenizer, vocab_size, fixed_values, tool_call_consistency)
        self.eos_token_id, self.vocab_size, self._started = tokenizer.eos_token_id, vocab_size, False

    def compiled_grammar(self, fixed_values: dict | None = None) -> xgr.CompiledGrammar:
        return self.grammar.compiled_grammar(fixed_values)

    def tool_call_grammar(self, num_rows: int):
        return self.grammar.tool_call_grammar(num_rows)

    def _start(self, batch_size: int) -> None:
        rows = self.grammar.fixed_values
        if isinstance(rows, list) and len(rows) != batch_size:
            raise ValueError(f"fixed_values has {len(rows)} rows but the batch has {batch_size}.")
        self.grammar.reset(batch_size).start(range(batch_size), range(batch_size))
        self._started = True

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self._started:
            self._start(scores.shape[0])
        else:
            self._advance(input_ids[:, -1].tolist())
        active = [row for row in range(scores.shape[0]) if not self.grammar.terminated(row)]
        if active:
            bitmask = self.grammar.allowed(active, positions=active)
            xgr.apply_token_bitmask_inplace(scores, bitmask.to(scores.device, non_blocking=True),
                                            vocab_size=self.vocab_size, indices=active)
        if len(active) < scores.shape[0]:
            finished = torch.ones(scores.shape[0], dtype=torch.bool)
            finished[active] = False
            finished = finished.to(scores.device)
            scores[finished] = torch.finfo(scores.dtype).min
            scores[finished, self.eos_token_id] = 0.0
        return scores

    def _advance(self, tokens: list[int]) -> None:
        for row, token in enumerate(tokens):
            if self.grammar.terminated(row):
                continue
            try:
                self.grammar.accept(row, token)
            except RuntimeError as error:
                raise RuntimeError(f"{error} Was another logits processor or a sampling option (e.g. a repetition "
                                   "penalty producing -inf everywhere) applied after this one?") from None
