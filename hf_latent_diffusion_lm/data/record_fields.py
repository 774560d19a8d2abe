"""Which field of a record each decoder token belongs to, and where in that field it stands.

The field injector (``injection_method="field"``) gives every decoder position a vector made from the latent *for
that position's field*, so the frozen LM finds a column's value next to where it writes it instead of having to
look it up in a prefix. Training and sampling must agree on the positions, so both compute them the same way: from
the text of each token in turn, counting the top-level separators of the record (``{39, State-gov}``: ``{``,
``3`` and ``9`` are in field 0, ``,`` and `` State`` in field 1). A token's position id is
``field * max_positions + index within the field`` (the index capped at ``max_positions - 1``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

import torch


class FieldTracker:
    """Counts the top-level fields of a record text fed to it piece by piece (strings with commas, nested
    brackets and escaped quotes included)."""

    __slots__ = ("depth", "in_string", "escaped", "field")

    def __init__(self):
        self.depth, self.in_string, self.escaped, self.field = 0, False, False, 0

    def feed(self, text: str) -> int:
        """Advance over ``text``; the field the text ends in."""
        for char in text:
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif char == "\\":
                    self.escaped = True
                elif char == '"':
                    self.in_string = False
            elif char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            elif char in "}]":
                self.depth -= 1
            elif char == "," and self.depth == 1:
                self.field += 1
        return self.field


class FieldPositions:
    """Position ids of the tokens of one record, fed one token at a time (the start token first)."""

    __slots__ = ("tracker", "num_fields", "max_positions", "field", "index")

    def __init__(self, num_fields: int, max_positions: int):
        self.tracker, self.num_fields, self.max_positions = FieldTracker(), num_fields, max_positions
        self.field, self.index = 0, -1

    def feed(self, token_text: str) -> int:
        """The position id of the next token, whose text is ``token_text`` (``""`` for special tokens)."""
        field = min(self.tracker.feed(token_text), self.num_fields - 1)
        self.index = self.index + 1 if field == self.field else 0
        self.field = field
        return field * self.max_positions + min(self.index, self.max_positions - 1)


def token_texts(tokenizer):
    """A cached ``token id -> text`` function of ``tokenizer`` (special tokens read as ``""``)."""
    special = set(tokenizer.all_special_ids)

    @lru_cache(maxsize=None)
    def text(token_id: int) -> str:
        return "" if token_id in special else tokenizer.decode([token_id])

    return text


def field_position_ids(input_ids: Sequence[Sequence[int]], texts: Callable[[int], str], num_fields: int,
                       max_positions: int) -> list[list[int]]:
    """Position ids of each record's decoder tokens (start and end tokens included), as sampling computes them;
    ``texts`` is :func:`token_texts` of the decoder's tokenizer."""
    rows = []
    for ids in input_ids:
        positions = FieldPositions(num_fields, max_positions)
        rows.append([positions.feed(texts(token)) for token in ids])
    return rows


def field_value_texts(text: str, names: Sequence[str], keyed: bool) -> list[str]:
    """The text of each top-level field's value in a record text (``""`` for a field the record lacks)."""
    tracker, parts = FieldTracker(), [[] for _ in names]
    body = text[1:-1] if text.startswith("{") and text.endswith("}") else text
    tracker.depth = 1
    for char in body:
        before = tracker.field
        field = tracker.feed(char)
        if field == before and field < len(parts):
            parts[field].append(char)
    values = []
    for name, chars in zip(names, parts):
        value = "".join(chars).strip()
        if keyed and value.startswith(name + ":"):
            value = value[len(name) + 1 :].strip()
        values.append(value)
    return values


class FieldInputs:
    """The field injector's (and table encoder's) inputs for a batch of records: the field position of every
    decoder token, padded like ``input_ids``, and the records' field codes when a ``codec`` is given."""

    def __init__(self, tokenizer, num_fields: int, max_positions: int, codec=None):
        self.texts, self.num_fields, self.max_positions, self.codec = token_texts(tokenizer), num_fields, \
            max_positions, codec

    def __call__(self, texts: Sequence[str], input_ids: Sequence[Sequence[int]]) -> dict:
        rows = field_position_ids(input_ids, self.texts, self.num_fields, self.max_positions)
        positions = torch.zeros((len(rows), max(map(len, rows))), dtype=torch.long)
        for row, ids in enumerate(rows):
            positions[row, : len(ids)] = torch.tensor(ids)
            positions[row, len(ids) :] = ids[-1]
        inputs = {"field_positions": positions}
        if self.codec is not None:
            codes = self.codec.encode(texts)
            inputs.update(field_indices=codes["indices"], field_scalars=codes["scalars"])
        return inputs
