"""The grammar state of records being decoded, shared by both decoding paths (the slot engine and ``generate``'s
logits processor): one class owns the compiled grammars, the matchers, the batch bitmask, forced text and the
tool-call state.

Each row (a batch row, or a slot of the pool) has an xgrammar matcher, restarted with the fixed values of the
record it starts; grammars are compiled once per distinct fixed values. One batched xgrammar call fills the token
bitmask of the rows that need one. For tool-use records (JSON with ``functions`` and ``calls``) the calls are also
kept to the functions each record offers (:mod:`.tool_call_grammar`).
"""

from __future__ import annotations

import json
import weakref
from typing import Sequence

import torch
import xgrammar as xgr

from ..data.tool_call_validity import is_tool_call_schema
from .tool_call_grammar import ToolCallGrammar

_COMPILERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiler_and_vocab(tokenizer, vocab_size: int) -> tuple[xgr.GrammarCompiler, list[bytes]]:
    """One xgrammar compiler per (tokenizer, vocab size), with each token id's bytes (xgrammar's decoded
    vocabulary); the compiler's cache keeps each compiled grammar (keyed by text)."""
    compilers = _COMPILERS.setdefault(tokenizer, {})
    if vocab_size not in compilers:
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        compilers[vocab_size] = (xgr.GrammarCompiler(info), info.decoded_vocab)
    return compilers[vocab_size]


def grammar_compiler(tokenizer, vocab_size: int) -> xgr.GrammarCompiler:
    return _compiler_and_vocab(tokenizer, vocab_size)[0]


def _fixed_key(fixed_values: dict | None) -> str:
    return json.dumps(fixed_values or {}, sort_keys=True, default=str)


class RecordGrammar:
    """The grammar state of up to ``num_rows`` records decoded together (see the module docstring).

    Args:
        schema: the record schema (table or nested JSON) records follow.
        tokenizer: the decoder's tokenizer.
        vocab_size: the width of the decoder's logits (may exceed the tokenizer's).
        fixed_values: ``{column: value}`` forced in every record, or one such dict (or ``None``) per record.
        tool_call_consistency: keep tool calls to the functions their record offers.
    """

    def __init__(self, schema, tokenizer, vocab_size: int, fixed_values: dict | Sequence[dict | None] | None = None,
                 tool_call_consistency: bool = True):
        if tokenizer.eos_token_id is None:
            raise ValueError("Constrained decoding needs a tokenizer with an eos token to end records.")
        self.schema, self.tokenizer, self.vocab_size = schema, tokenizer, vocab_size
        self.fixed_values, self.tool_call_consistency = fixed_values, tool_call_consistency
        self.compiler, self._decoded_vocab = _compiler_and_vocab(tokenizer, vocab_size)
        self._grammars: dict[str, xgr.CompiledGrammar] = {}
        self._batch = xgr.BatchGrammarMatcher()
        self._matchers: list[xgr.GrammarMatcher | None] = []
        self._bitmask: torch.Tensor | None = None
        self._forced: dict[str, list[int]] = {}  # forced text -> the tokens fed for it
        self.tool_calls: ToolCallGrammar | None = None

    def compiled_grammar(self, fixed_values: dict | None = None) -> xgr.CompiledGrammar:
        """The compiled grammar of the schema with ``fixed_values`` (cached per distinct fixed values)."""
        key = _fixed_key(fixed_values)
        if key not in self._grammars:
            self._grammars[key] = self.compiler.compile_grammar(self.schema.grammar(fixed_values))
        return self._grammars[key]

    def tool_call_grammar(self, num_rows: int) -> ToolCallGrammar | None:
        """For tool-use records with ``tool_call_consistency``: the grammar that keeps each row's ``required`` names
        and calls to its own functions (``None`` for other records)."""
        if not (self.tool_call_consistency and not self.schema.has_columns and is_tool_call_schema(self.schema)):
            return None
        return ToolCallGrammar(self.compiler, self._decoded_vocab, num_rows, self.vocab_size)

    def reset(self, num_rows: int) -> "RecordGrammar":
        """Room for ``num_rows`` rows, none started."""
        self._matchers = [None] * num_rows
        self._bitmask = xgr.allocate_token_bitmask(num_rows, self.vocab_size)
        self.tool_calls = self.tool_call_grammar(num_rows)
        return self

    def start(self, rows: Sequence[int], records: Sequence[int]) -> None:
        """Give each row in ``rows`` a fresh matcher for the record of the same position in ``records`` (its index
        in ``fixed_values`` when that is a list)."""
        for row, record in zip(rows, records):
            fixed = self.fixed_values[record] if isinstance(self.fixed_values, list) else self.fixed_values
            self._matchers[row] = xgr.GrammarMatcher(self.compiled_grammar(fixed))
            if self.tool_calls is not None:
                self.tool_calls.start(row)

    def allowed(self, rows: Sequence[int], positions: Sequence[int] | None = None) -> torch.Tensor:
        """The token bitmask (xgrammar's int32 layout) of each row in ``rows``, written at bitmask row
        ``positions[i]`` (default: ``i``, and only those rows are returned; else the whole bitmask)."""
        compact = positions is None
        positions = list(range(len(rows))) if compact else list(positions)
        self._batch.batch_fill_next_token_bitmask([self._matchers[r] for r in rows], self._bitmask, positions)
        if self.tool_calls is not None:
            self.tool_calls.narrow(self._bitmask, rows, positions)
        return self._bitmask[: len(rows)] if compact else self._bitmask

    def terminated(self, row: int) -> bool:
        return self._matchers[row].is_terminated()

    def accept(self, row: int, token: int) -> None:
        if not self._matchers[row].accept_token(token):
            raise RuntimeError(f"Row {row}: token {token} breaks the record grammar.")
        if self.tool_calls is not None:
            self.tool_calls.accept(row, token)

    def keep(self, rows: list[int]) -> None:
        """Renumber the rows after the caller kept only ``rows`` (in that order)."""
        self._matchers[: len(rows)] = [self._matchers[r] for r in rows]
        if self.tool_calls is not None:
            self.tool_calls.keep(rows)

    def _forced_tokens(self, text: str) -> list[int]:
        """The tokens :meth:`forced_run` feeds for forced ``text``, cached: the same keys and separators recur in
        every record, and tokenizing them again cost a few hundredths of a millisecond per slot and step."""
        if text not in self._forced:
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            # a tokenizer that rewrites text (e.g. adds a prefix space) forces nothing
            self._forced[text] = ids[:-1] if self.tokenizer.decode(ids) == text else []
        return self._forced[text]

    def forced_run(self, row: int, budget: int) -> list[int]:
        """The tokens of the text the grammar now forces on the row (a key, a separator, the rest of a category),
        accepted: at most ``budget``, in the tokenizer's own tokens, all but the last, which may merge with the text
        that follows (``": "`` + ``"Private"`` is written ``":"``, ``" Private"``). Fed in one step, they need no
        logits; and the LM sees them tokenized as in training, where token-by-token masking lets it spell a key in
        pieces."""
        text = self._matchers[row].find_jump_forward_string() if budget > 0 else ""
        if not text:
            return []
        forced = self._forced_tokens(text)[:budget]
        for token in forced:
            self.accept(row, token)
        return forced
