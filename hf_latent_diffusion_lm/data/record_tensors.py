"""Tokenised records held as padded tensors, for the field injector's training: a batch is an index and a trim, with
no Python work per record (the warm-up's batches of 512 records would otherwise spend more time in collation than
in the model)."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from .record_tokenization import collate_records

SEQUENCE_KEYS = ("input_ids", "attention_mask", "field_positions")


class RecordTensors(Dataset):
    """Rows of equal-width tensors; :meth:`collate` stacks rows and trims padding beyond the batch's longest."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors

    @classmethod
    def of(cls, dataset, tokenizer, fields) -> "RecordTensors":
        """A ``datasets.Dataset`` of records (``text``, ``input_ids``, ``encoder_input_ids``) with their field
        inputs (:class:`.record_fields.FieldInputs`)."""
        rows = [dict(zip(dataset.column_names, values)) for values in zip(*(dataset[name] for name in
                                                                            dataset.column_names))]
        batch = collate_records(rows, tokenizer, fields=fields)
        batch.pop("encoder_input_ids"), batch.pop("encoder_attention_mask")
        return cls(batch)

    def __len__(self) -> int:
        return len(self.tensors["input_ids"])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[index] for key, value in self.tensors.items()}

    @staticmethod
    def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = {key: torch.stack([row[key] for row in rows]) for key in rows[0]}
        width = int(batch["attention_mask"].sum(1).max())
        for key in SEQUENCE_KEYS:
            batch[key] = batch[key][:, :width]
        return batch
