"""How a serialized record becomes model inputs: one convention shared by training, `encode` and generation.

The decoder sees ``[bos] + tokens(record) + [eos]``; generation starts from the latent injection followed by
``bos`` and stops at ``eos``. The encoder sees the record through its own tokenizer, or through the decoder's
token ids when the encoder was built over the decoder's vocabulary (``encoder_tokenizer=None``).
"""

from __future__ import annotations

from typing import Sequence

import torch

DECODER_KEYS = ("input_ids", "attention_mask")
ENCODER_KEYS = ("encoder_input_ids", "encoder_attention_mask")


class RecordTooLongError(ValueError):
    """A record does not fit the model's maximum length; the message names the row."""


def decoder_start_token_id(tokenizer) -> int:
    """The token that opens every record: ``bos`` where the tokenizer has one, else ``eos``."""
    token_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if token_id is None:
        raise ValueError("The decoder tokenizer has neither a bos nor an eos token; set `tokenizer.eos_token`.")
    return token_id


def pad_token_id(tokenizer) -> int:
    """Padding id; falls back to ``eos`` (padded positions are masked out of every loss)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def tokenize_records(
    texts: Sequence[str],
    tokenizer,
    encoder_tokenizer=None,
    encoder_max_length: int | None = None,
) -> dict[str, list[list[int]]]:
    """Token ids for the decoder (``input_ids``) and the encoder (``encoder_input_ids``), unpadded.

    Encoder sequences are truncated to ``encoder_max_length`` (the encoder only needs enough of the record to place
    it in the latent space); decoder sequences never are (see :func:`check_record_lengths`).
    """
    start, end = decoder_start_token_id(tokenizer), tokenizer.eos_token_id
    body = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    input_ids = [[start, *ids, end] for ids in body]
    if encoder_tokenizer is None:
        encoder_ids = [ids[:encoder_max_length] if encoder_max_length else ids for ids in input_ids]
    else:
        encoder_ids = encoder_tokenizer(
            list(texts), truncation=encoder_max_length is not None, max_length=encoder_max_length
        )["input_ids"]
    return {"input_ids": input_ids, "encoder_input_ids": encoder_ids}


def check_record_lengths(input_ids: Sequence[Sequence[int]], texts: Sequence[str], max_length: int) -> None:
    """Raise :class:`RecordTooLongError` when rows are longer than ``max_length`` decoder tokens, naming the first
    and the ``max_length`` that fits the longest (a record cut short could not be learned or parsed)."""
    lengths = [len(ids) for ids in input_ids]
    too_long = [row for row, length in enumerate(lengths) if length > max_length]
    if too_long:
        first, longest = too_long[0], max(lengths)
        raise RecordTooLongError(
            f"Row {first} is {lengths[first]} decoder tokens long (with bos/eos), more than max_length={max_length} "
            f"({len(too_long)} of {len(lengths)} rows are): {texts[first][:80]!r}... Use --max-length {longest} "
            f"(max_length={longest}) to fit the longest row, or keep fewer columns with --columns."
        )


def _pad(sequences: Sequence[Sequence[int]], value: int) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), length), value, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def collate_records(features: Sequence[dict], tokenizer, encoder_tokenizer=None, fields=None) -> dict[str, torch.Tensor]:
    """Right-pad a list of :func:`tokenize_records` rows into a batch of tensors (a ``DataLoader`` collate_fn);
    ``fields`` (a :class:`.record_fields.FieldInputs`) adds the field injector's inputs (rows need their ``text``)."""
    input_ids, attention_mask = _pad([f["input_ids"] for f in features], pad_token_id(tokenizer))
    encoder_pad = pad_token_id(encoder_tokenizer) if encoder_tokenizer is not None else pad_token_id(tokenizer)
    encoder_input_ids, encoder_attention_mask = _pad([f["encoder_input_ids"] for f in features], encoder_pad)
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "encoder_input_ids": encoder_input_ids,
        "encoder_attention_mask": encoder_attention_mask,
    }
    if fields is not None:
        batch.update(fields([f["text"] for f in features], [f["input_ids"] for f in features]))
    return batch
