"""build_record_dataset: serialized, tokenised records split for training; too-long rows are named."""

import pandas as pd
import pytest

from hf_latent_diffusion_lm.data import RecordTooLongError, TableSchema, build_record_dataset, collate_records
from hf_latent_diffusion_lm.testing import tiny_tokenizer

FRAME = pd.DataFrame({"age": list(range(20, 60)), "city": ["Oslo", "Rome", "Lima, PE", "Kyiv"] * 10})


@pytest.fixture(scope="module")
def schema():
    return TableSchema.infer(FRAME)


def test_splits_columns_and_token_convention(schema):
    tokenizer = tiny_tokenizer()
    dataset = build_record_dataset(FRAME, schema, tokenizer, validation_fraction=0.25, seed=1)
    assert (len(dataset["train"]), len(dataset["validation"])) == (30, 10)
    assert set(dataset["train"].column_names) == {"text", "input_ids", "encoder_input_ids"}
    texts = list(dataset["train"]["text"]) + list(dataset["validation"]["text"])
    assert sorted(texts) == sorted(schema.to_text(row) for row in schema.records(FRAME))
    example = dataset["train"][0]
    assert example["input_ids"] == [256, *tokenizer(example["text"], add_special_tokens=False)["input_ids"], 256]
    assert example["encoder_input_ids"] == example["input_ids"]
    batch = collate_records([dataset["train"][i] for i in range(4)], tokenizer)
    assert batch["input_ids"].shape[0] == 4


def test_texts_and_rows_give_the_same_records(schema):
    tokenizer = tiny_tokenizer()
    texts = [schema.to_text(row) for row in schema.records(FRAME)]
    from_texts = build_record_dataset(texts, schema, tokenizer, validation_fraction=0)
    assert list(from_texts) == ["train"] and list(from_texts["train"]["text"]) == texts


def test_texts_that_are_not_records_are_refused(schema):
    with pytest.raises(ValueError, match="Row 1 is not a record"):
        build_record_dataset(["{age: 20, city: Oslo}", "age 20"], schema, tiny_tokenizer())


def test_too_long_record_names_its_row(schema):
    frame = FRAME.copy()
    frame.loc[33, "city"] = "Lima, PE"
    with pytest.raises(RecordTooLongError, match="Row 2 "):
        build_record_dataset(frame, schema, tiny_tokenizer(), max_length=len("{age: 22, city: Lima, PE}") + 1)
