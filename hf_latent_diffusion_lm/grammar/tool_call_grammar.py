"""Tool calls that fit the functions offered in the same record, by construction.

A JSON Schema cannot tie one part of a record to another, so the record grammar lets a call name any function and
pass any arguments, and a function require arguments it does not declare. Here each slot's text is followed
(:class:`.json_path_tracker.JsonPathTracker`), and two places bring in a grammar built from what was written
before them, whose token mask is intersected with the record grammar's:

- ``functions[i].parameters.required``: only names the function's ``properties`` declare;
- the top-level ``calls``: each call names an offered function, passes its required arguments and no undeclared
  one, each value of the declared type and enum (what :func:`.tool_call_validity.tool_call_problems` checks).

So the record stays schema-valid and its calls become semantically valid. Where the two grammars leave no common
token (a record schema narrower than the functions allow), the extra grammar is dropped for that record and the
record grammar alone goes on; re-drawing (:mod:`..sampling.record_sampling`) still applies.
"""

from __future__ import annotations

import json
from typing import Sequence

import torch
import xgrammar as xgr

from ..data.json_record_schema import SEPARATORS
from ..data.tool_call_validity import declared_json_type
from .json_path_tracker import JsonPathTracker

# Any JSON value, written compactly (xgrammar's own "any value" rule puts a space after commas).
_ANY_VALUE = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"},
                        {"type": "array", "items": {"$ref": "#/$defs/value"}},
                        {"type": "object", "additionalProperties": {"$ref": "#/$defs/value"}}]}
_ANY = {"$ref": "#/$defs/value"}


def _loads(text: bytes) -> dict:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def argument_schema(spec: dict) -> dict:
    """The JSON Schema of a value that fits a parameter declared as ``spec`` (type, enum, enum of items)."""
    if not isinstance(spec, dict):
        return _ANY
    if isinstance(spec.get("enum"), list) and spec["enum"]:
        return {"enum": spec["enum"]}
    json_type = declared_json_type(spec)
    if json_type == "array":
        items = spec.get("items")
        enum = items.get("enum") if isinstance(items, dict) else None
        return {"type": "array", "items": {"enum": enum} if enum else _ANY}
    if json_type == "object":
        return {"type": "object", "additionalProperties": _ANY}
    return {"type": json_type} if json_type else _ANY


def calls_schema(functions: Sequence[dict]) -> dict | None:
    """The JSON Schema of a non-empty ``calls`` array whose calls fit ``functions``: arguments in declared order
    (as in 1,892 of BFCL's 1,897 calls). ``None`` if no function can be called validly (e.g. one that requires an
    argument it does not declare)."""
    alternatives = []
    for function in functions:
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        parameters = function.get("parameters") if isinstance(function.get("parameters"), dict) else {}
        declared = parameters.get("properties") if isinstance(parameters.get("properties"), dict) else {}
        required = parameters.get("required") or []
        if not all(key in declared for key in required):  # no call of it can be valid
            continue
        arguments = {"type": "object", "properties": {key: argument_schema(spec) for key, spec in declared.items()},
                     "required": required, "additionalProperties": False}
        alternatives.append({"type": "object", "properties": {"name": {"const": function["name"]},
                                                              "arguments": arguments},
                             "required": ["name", "arguments"], "additionalProperties": False})
    if not alternatives:
        return None
    return {"type": "array", "minItems": 1, "items": {"anyOf": alternatives}, "$defs": {"value": _ANY_VALUE}}


def required_schema(parameters: dict) -> dict | None:
    """The JSON Schema of a function's ``required`` list given its parameters so far (``None`` before its
    ``properties``)."""
    declared = parameters.get("properties") if isinstance(parameters, dict) else None
    if not isinstance(declared, dict):
        return None
    return {"type": "array", "items": {"enum": list(declared)}} if declared else {"type": "array", "maxItems": 0}


def _is_required_path(path: list) -> bool:
    return len(path) == 4 and path[0] == "functions" and path[2:] == ["parameters", "required"]


class ToolCallGrammar:
    """Per slot: where its record is, and the extra grammar (required names, or calls) active there.

    Args:
        compiler: the xgrammar compiler of the decoder's tokenizer.
        decoded_vocab: each token id's bytes (``xgrammar.TokenizerInfo.decoded_vocab``).
        num_slots: the pool size.
        vocab_size: the width of the decoder's logits.
    """

    def __init__(self, compiler: xgr.GrammarCompiler, decoded_vocab: Sequence[bytes], num_slots: int,
                 vocab_size: int):
        self.compiler, self.decoded_vocab = compiler, decoded_vocab
        self._trackers = [JsonPathTracker() for _ in range(num_slots)]
        self._matchers: list[xgr.GrammarMatcher | None] = [None] * num_slots
        self._ends: list[int | None] = [None] * num_slots  # depth at which the active grammar's value is complete
        self._batch = xgr.BatchGrammarMatcher()
        self._bitmask = xgr.allocate_token_bitmask(num_slots, vocab_size)

    def start(self, slot: int) -> None:
        self._trackers[slot], self._matchers[slot], self._ends[slot] = JsonPathTracker(), None, None

    def keep(self, slots: list[int]) -> None:
        for state in (self._trackers, self._matchers, self._ends):
            state[: len(slots)] = [state[s] for s in slots]

    def accept(self, slot: int, token: int) -> None:
        """Advance the slot's extra grammar, and its place in the record (starting a grammar where one applies)."""
        if self._matchers[slot] is not None and not self._matchers[slot].accept_token(token):
            self._matchers[slot] = None
        tracker, data = self._trackers[slot], self.decoded_vocab[token]
        for index, byte in enumerate(data):
            path = tracker.feed(byte)
            if self._ends[slot] is not None and tracker.depth == self._ends[slot] and byte == ord("]"):
                self._matchers[slot], self._ends[slot] = None, None  # the required list is complete
            if path is None or self._matchers[slot] is not None:
                continue
            rest = bytes(data[index + 1:])
            if path == ["calls"]:
                functions = _loads(tracker.object_so_far()).get("functions")
                self._matchers[slot] = self.matcher(functions, rest) if isinstance(functions, list) else None
            elif _is_required_path(path):
                schema = required_schema(_loads(tracker.object_so_far()))
                self._matchers[slot] = self._compiled(schema, b"", rest) if schema else None
                self._ends[slot] = tracker.depth if self._matchers[slot] is not None else None

    def matcher(self, functions: list, rest: bytes = b"") -> xgr.GrammarMatcher | None:
        """A matcher for the calls of a record offering ``functions`` and its closing brace, having read ``rest``
        (``None`` where no call can fit, or ``rest`` does not)."""
        schema = calls_schema(functions)
        return self._compiled(schema, b"}", rest) if schema is not None else None

    def _compiled(self, schema: dict, suffix: bytes, rest: bytes) -> xgr.GrammarMatcher | None:
        grammar = xgr.Grammar.from_json_schema(json.dumps(schema), any_whitespace=False, separators=SEPARATORS,
                                               strict_mode=True)
        if suffix:  # e.g. the record's closing brace after its calls
            grammar = xgr.Grammar.concat(grammar, xgr.Grammar.from_ebnf(f"root ::= {json.dumps(suffix.decode())}"))
        matcher = xgr.GrammarMatcher(self.compiler.compile_grammar(grammar))
        return matcher if not rest or matcher.accept_string(rest.decode("utf-8", errors="replace")) else None

    def narrow(self, bitmask: torch.Tensor, slots: Sequence[int], rows: Sequence[int]) -> None:
        """Intersect, in place, row ``rows[k]`` of ``bitmask`` (the record grammar's mask of slot ``slots[k]``) with
        that slot's extra mask. Where nothing would be left, the slot's extra grammar is dropped and its row kept."""
        pairs = [(slot, row) for slot, row in zip(slots, rows) if self._matchers[slot] is not None]
        if not pairs:
            return
        rows = [row for _, row in pairs]
        self._batch.batch_fill_next_token_bitmask([self._matchers[slot] for slot, _ in pairs], self._bitmask, rows)
        narrowed = bitmask[rows] & self._bitmask[rows]
        empty = (narrowed == 0).all(dim=1).tolist()
        bitmask[[row for row, gone in zip(rows, empty) if not gone]] = narrowed[[not gone for gone in empty]]
        for (slot, _), gone in zip(pairs, empty):
            if gone:
                self._matchers[slot] = None
