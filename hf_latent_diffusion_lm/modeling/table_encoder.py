"""The encoder of table records: one embedding per field value (a category, or its characters and quantile),
mixed by an MLP. See :mod:`..data.field_codes` for why a table is not encoded as text."""

from __future__ import annotations

import torch
from torch import nn

from ..data.field_codes import FieldCodec

FIELD_WIDTH = 32  # features per field before mixing


class TableEncoder(nn.Module):
    """``(indices, scalars)`` of :meth:`FieldCodec.encode` -> one pooled vector per record, ``(n, hidden_size)``."""

    def __init__(self, codec: FieldCodec, hidden_size: int):
        super().__init__()
        self.codec, self.hidden_size = codec, hidden_size
        self.values = nn.ModuleList(nn.Embedding(code.size, FIELD_WIDTH) for code in codec.fields)
        self.scalars = nn.Linear(len(codec.fields), len(codec.fields) * FIELD_WIDTH)
        self.mix = nn.Sequential(nn.Linear(len(codec.fields) * FIELD_WIDTH, hidden_size), nn.SiLU(),
                                 nn.Linear(hidden_size, hidden_size), nn.SiLU())

    def forward(self, indices: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        parts = []
        for column, (code, embedding) in enumerate(zip(self.codec.fields, self.values)):
            if code.values is not None:
                parts.append(embedding(indices[:, column, 0]))
            else:
                parts.append(embedding(indices[:, column, : code.width]).sum(1))
        return self.mix(torch.cat(parts, dim=-1) + self.scalars(scalars))
