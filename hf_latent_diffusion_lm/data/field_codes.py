"""The table encoder's view of a record: each field's value as a category index, or as characters (plus the value's
quantile where the field holds numbers).

Why not a text encoder over the whole record: mean-pooled features of two keyed Adult records are 95% alike (the
keys dominate), so the posterior means of all rows started out nearly equal and training collapsed them to one
point; a pretrained MiniLM also costs most of a CPU training step and 15 minutes to encode Adult for stage 2. Codes
made from each field's own value differ wherever the rows differ, and a small MLP encodes 32,000 rows in a second.
The codes are read from the record *text*, so ``encode`` of a record, a sampled text and a training row agree.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch

from .record_fields import field_value_texts

MAX_CATEGORIES = 256  # a field with more distinct values is read as characters
MAX_CHARACTERS = 32  # characters of a value the encoder reads (the start; the decoder still writes all of it)
QUANTILES = 101
QUANTILE_POSITIONS = np.linspace(-1, 1, QUANTILES)  # a number's code: where it falls among the quantiles


@dataclass
class FieldCode:
    """How one field becomes encoder input.

    Args:
        name: the field (column) name.
        values: the known value texts of a categorical field (an unknown one gets index ``len(values)``).
        alphabet: the characters of a character field (an unknown one gets index ``len(alphabet)``; index
            ``len(alphabet) + 1`` pads).
        width: characters read from a character field's value.
        quantiles: where every number parses, the values at ``QUANTILES`` evenly spaced quantiles (a value's
            position among them is one more input, so close numbers get close codes).
    """

    name: str
    values: list[str] | None = None
    alphabet: str | None = None
    width: int = 0
    quantiles: list[float] | None = None

    @property
    def size(self) -> int:
        """Embedding rows this field needs."""
        return len(self.values) + 1 if self.values is not None else self.width * (len(self.alphabet) + 2)


def _numbers(values: Sequence[str]) -> np.ndarray | None:
    try:
        numbers = np.array([float(value) for value in values if value])
    except ValueError:
        return None
    return numbers if len(numbers) and np.isfinite(numbers).all() else None


@dataclass
class FieldCodec:
    """Turns record texts into the table encoder's inputs (see the module docstring); stored in the VAE config."""

    fields: list[FieldCode]
    keyed: bool = True
    _lookups: list = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def fit(cls, texts: Sequence[str], names: Sequence[str], keyed: bool) -> "FieldCodec":
        """Codes for the fields ``names`` of the records ``texts``."""
        columns = list(zip(*(field_value_texts(text, names, keyed) for text in texts)))
        if not columns:
            raise ValueError("FieldCodec.fit needs at least one record.")
        codes = []
        for name, values in zip(names, columns):
            distinct = sorted(set(values))
            numbers = _numbers(values)
            if len(distinct) <= MAX_CATEGORIES and numbers is None:
                codes.append(FieldCode(name, values=distinct))
                continue
            quantiles = None if numbers is None else np.quantile(numbers, np.linspace(0, 1, QUANTILES)).tolist()
            alphabet = "".join(sorted({char for value in values for char in value[:MAX_CHARACTERS]}))
            width = min(MAX_CHARACTERS, max(1, max(map(len, values))))
            codes.append(FieldCode(name, alphabet=alphabet, width=width, quantiles=quantiles))
        return cls(codes, keyed)

    def to_dict(self) -> dict:
        return {"fields": [asdict(code) for code in self.fields], "keyed": self.keyed}

    @classmethod
    def from_dict(cls, values: dict) -> "FieldCodec":
        return cls([FieldCode(**code) for code in values["fields"]], values["keyed"])

    @property
    def names(self) -> list[str]:
        return [code.name for code in self.fields]

    def _lookup(self, index: int) -> dict:
        if self._lookups is None:
            self._lookups = [{text: i for i, text in enumerate(code.values or code.alphabet)} for code in self.fields]
        return self._lookups[index]

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """``indices`` ``(n, fields, width)`` long (a category's index in cell 0; a character field's first ``width``
        cells: ``position * (len(alphabet) + 2) + character``, padded) and
        ``scalars`` ``(n, fields)`` float (each number's quantile position in [-1, 1], 0 elsewhere)."""
        width = max(max((code.width for code in self.fields), default=1), 1)
        indices = np.zeros((len(texts), len(self.fields), width), dtype=np.int64)
        scalars = np.zeros((len(texts), len(self.fields)), dtype=np.float32)
        for row, text in enumerate(texts):
            for column, value in enumerate(field_value_texts(text, self.names, self.keyed)):
                code, lookup = self.fields[column], self._lookup(column)
                if code.values is not None:
                    indices[row, column, :] = lookup.get(value, len(code.values))
                    continue
                stride = len(code.alphabet) + 2
                cells = [position * stride + lookup.get(char, len(code.alphabet))
                         for position, char in enumerate(value[: code.width])]
                cells += [position * stride + stride - 1 for position in range(len(cells), code.width)]
                indices[row, column, : code.width] = cells
                if code.quantiles is not None and value:
                    try:
                        number = float(value)
                    except ValueError:
                        continue
                    if math.isfinite(number):
                        scalars[row, column] = np.interp(number, code.quantiles, QUANTILE_POSITIONS)
        return {"indices": torch.from_numpy(indices), "scalars": torch.from_numpy(scalars)}
