"""Training data: a table's rows as serialized records, tokenised for the decoder and the encoder, split in two."""

from __future__ import annotations

from datasets import Dataset, DatasetDict

from .record_format import RecordParseError
from .record_tokenization import check_record_lengths, tokenize_records


def _record_texts(frame_or_texts, schema) -> list[str]:
    """Record texts of a table (anything ``read_table`` takes, or row dicts), or given texts checked to parse."""
    if isinstance(frame_or_texts, (list, tuple)) and all(isinstance(t, str) for t in frame_or_texts):
        for row, text in enumerate(frame_or_texts):
            try:
                schema.parse(text)
            except RecordParseError as error:
                raise ValueError(f"Row {row} is not a record of the schema: {error}") from error
        return list(frame_or_texts)
    if isinstance(frame_or_texts, (list, tuple)) and all(isinstance(r, dict) for r in frame_or_texts):
        return [schema.to_text(row) for row in frame_or_texts]
    return [schema.to_text(row) for row in schema.records(frame_or_texts)]


def build_record_dataset(
    frame_or_texts,
    schema,
    tokenizer,
    encoder_tokenizer=None,
    max_length: int | None = None,
    encoder_max_length: int | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> DatasetDict:
    """A ``DatasetDict`` (``train``, and ``validation`` unless ``validation_fraction`` is 0) of records with columns
    ``text``, ``input_ids`` and ``encoder_input_ids`` (see :func:`.record_tokenization.tokenize_records`).

    ``frame_or_texts``: a DataFrame, a ``datasets.Dataset``, a table file, row dicts, or record texts.
    Raises :class:`.record_tokenization.RecordTooLongError` naming the first row longer than ``max_length`` tokens
    and the ``max_length`` that fits the longest.
    Batch them with :func:`.record_tokenization.collate_records`.
    """
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")
    texts = _record_texts(frame_or_texts, schema)
    if not texts:
        raise ValueError("No records to build a dataset from.")

    def tokenize(batch: dict) -> dict:
        return tokenize_records(batch["text"], tokenizer, encoder_tokenizer, encoder_max_length=encoder_max_length)

    dataset = Dataset.from_dict({"text": texts}).map(tokenize, batched=True)
    if max_length is not None:
        check_record_lengths(dataset["input_ids"], texts, max_length)
    if validation_fraction == 0:
        return DatasetDict(train=dataset)
    split = dataset.train_test_split(test_size=validation_fraction, seed=seed)
    return DatasetDict(train=split["train"], validation=split["test"])
