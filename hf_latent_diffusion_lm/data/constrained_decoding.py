"""Schema-constrained generation: a ``transformers`` logits processor that only lets valid records be written.

Built on xgrammar (maintained, used by vLLM/SGLang/TensorRT-LLM; compiles an EBNF grammar against a tokenizer once
and then computes each step's allowed-token bitmask in C++, multi-threaded over the batch). The grammar comes from
the schema's ``grammar`` (EBNF for tables, xgrammar's JSON-Schema grammar for nested records); after the record's
closing ``}`` only ``eos`` is allowed.
"""

from __future__ import annotations

import json
import weakref
from typing import Sequence

import torch
import xgrammar as xgr
from transformers import LogitsProcessor

from .record_format import RecordParseError
from .tool_call_grammar import ToolCallGrammar
from .tool_call_validity import is_tool_call_schema

_COMPILERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def grammar_compiler(tokenizer, vocab_size: int) -> xgr.GrammarCompiler:
    """One xgrammar compiler per (tokenizer, vocab size); its cache keeps each compiled grammar (keyed by text)."""
    return _compiler_and_vocab(tokenizer, vocab_size)[0]


def _compiler_and_vocab(tokenizer, vocab_size: int) -> tuple[xgr.GrammarCompiler, list[bytes]]:
    """The compiler and each token id's bytes (xgrammar's decoded vocabulary)."""
    compilers = _COMPILERS.setdefault(tokenizer, {})
    if vocab_size not in compilers:
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        compilers[vocab_size] = (xgr.GrammarCompiler(info), info.decoded_vocab)
    return compilers[vocab_size]


def _fixed_key(fixed_values: dict | None) -> str:
    return json.dumps(fixed_values or {}, sort_keys=True, default=str)


class SchemaLogitsProcessor(LogitsProcessor):
    r"""Masks every token that would break ``schema``'s record format, category sets or ranges.

    Use as ``model.generate(..., logits_processor=LogitsProcessorList([processor]))``; one processor per
    ``generate`` call (it holds the batch's grammar state). Works when the prompt is soft (``inputs_embeds``: the
    ``input_ids`` it sees are only generated tokens) and with a token prompt: the first call starts the records,
    every later call advances each row with the token chosen last. A finished row may only produce ``eos``.

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
        if tokenizer.eos_token_id is None:
            raise ValueError("Constrained decoding needs a tokenizer with an eos token to end records.")
        self.schema, self.eos_token_id, self.vocab_size = schema, tokenizer.eos_token_id, vocab_size
        self.compiler, self._decoded_vocab = _compiler_and_vocab(tokenizer, vocab_size)
        self.fixed_values = fixed_values
        self.tool_call_consistency = tool_call_consistency
        self._grammars: dict[str, xgr.CompiledGrammar] = {}
        self._matchers: list[xgr.GrammarMatcher] | None = None
        self._batch = xgr.BatchGrammarMatcher()
        self._bitmask: torch.Tensor | None = None
        self.tool_calls: ToolCallGrammar | None = None

    def tool_call_grammar(self, num_rows: int) -> ToolCallGrammar | None:
        """For tool-use records with ``tool_call_consistency``: the grammar that keeps each row's ``required`` names
        and calls to its own functions (``None`` for other records)."""
        if not (self.tool_call_consistency and not self.schema.has_columns and is_tool_call_schema(self.schema)):
            return None
        return ToolCallGrammar(self.compiler, self._decoded_vocab, num_rows, self.vocab_size)

    def compiled_grammar(self, fixed_values: dict | None = None) -> xgr.CompiledGrammar:
        """The compiled grammar of the schema with ``fixed_values`` (cached per distinct fixed values)."""
        key = _fixed_key(fixed_values)
        if key not in self._grammars:
            self._grammars[key] = self.compiler.compile_grammar(self.schema.grammar(fixed_values))
        return self._grammars[key]

    def _start(self, batch_size: int) -> None:
        rows = self.fixed_values
        if rows is None or isinstance(rows, dict):
            rows = [rows] * batch_size
        elif len(rows) != batch_size:
            raise ValueError(f"fixed_values has {len(rows)} rows but the batch has {batch_size}.")
        self._matchers = [xgr.GrammarMatcher(self.compiled_grammar(row)) for row in rows]
        self._bitmask = xgr.allocate_token_bitmask(batch_size, self.vocab_size)
        self.tool_calls = self.tool_call_grammar(batch_size)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._matchers is None:
            self._start(scores.shape[0])
        else:
            self._advance(input_ids[:, -1].tolist())
        active = [i for i, matcher in enumerate(self._matchers) if not matcher.is_terminated()]
        if active:
            self._batch.batch_fill_next_token_bitmask([self._matchers[i] for i in active], self._bitmask, active)
            if self.tool_calls is not None:
                self.tool_calls.narrow(self._bitmask, active, active)
            xgr.apply_token_bitmask_inplace(scores, self._bitmask.to(scores.device, non_blocking=True),
                                            vocab_size=self.vocab_size, indices=active)
        if len(active) < len(self._matchers):
            finished = torch.ones(len(self._matchers), dtype=torch.bool)
            finished[active] = False
            finished = finished.to(scores.device)
            scores[finished] = torch.finfo(scores.dtype).min
            scores[finished, self.eos_token_id] = 0.0
        return scores

    def _advance(self, tokens: list[int]) -> None:
        for row, (matcher, token) in enumerate(zip(self._matchers, tokens)):
            if matcher.is_terminated():
                continue
            if not matcher.accept_token(token):
                raise RuntimeError(
                    f"Row {row}: token {token} breaks the record grammar; was another logits processor or a "
                    "sampling option (e.g. a repetition penalty producing -inf everywhere) applied after this one?"
                )
            if self.tool_calls is not None:
                self.tool_calls.accept(row, token)


def checked_records(schema, texts: Sequence[str]) -> list[tuple[dict | None, list[str]]]:
    """For each text, the row it holds (``None`` if it does not parse) and why it is not a valid record of
    ``schema`` (parse error or broken rules; ``[]`` if valid)."""
    checked = []
    for text in texts:
        try:
            row = schema.parse(text)
        except RecordParseError as error:
            checked.append((None, [str(error)]))
            continue
        checked.append((row, schema.validate(row)))
    return checked


def record_problems(schema, texts: Sequence[str]) -> list[list[str]]:
    """For each text, why it is not a valid record of ``schema`` (parse error or broken rules); ``[]`` if valid."""
    return [problems for _, problems in checked_records(schema, texts)]


def validity_rate(schema, texts: Sequence[str]) -> float:
    """Share of ``texts`` that parse and satisfy ``schema`` (the validity metric of the evaluation)."""
    if not texts:
        raise ValueError("validity_rate needs at least one text.")
    return sum(not found for found in record_problems(schema, texts)) / len(texts)
