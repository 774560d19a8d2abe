"""Nested JSON records: inferred schema, canonical text that parses back exactly, validation, constrained decoding."""

import json
import random
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import LogitsProcessorList

from hf_latent_diffusion_lm.benchmark_data import load_bfcl
from hf_latent_diffusion_lm.data import JsonRecordSchema, RecordParseError, TableSchema, record_problems, validity_rate
from hf_latent_diffusion_lm.grammar import SchemaLogitsProcessor
from hf_latent_diffusion_lm.data.record_schemas import holds_nested_records, infer_schema, schema_from_dict
from hf_latent_diffusion_lm.testing import tiny_decoder, tiny_tokenizer

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_BFCL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bfcl"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
nested_records = st.dictionaries(st.text(min_size=1, max_size=8), json_values, min_size=1, max_size=5)


def tool_records(count: int, seed: int = 0) -> list[dict]:
    """Small tool-call-like records: text, an enum-like name, nested arguments, a list of tags."""
    rng = random.Random(seed)
    words = ["weather", "in", "paris", "book", "a", "table", "for", "two", "convert", "usd"]
    records = []
    for _ in range(count):
        calls = [{"name": rng.choice(["get_weather", "book_table", "convert"]),
                  "arguments": {"city": rng.choice(["oslo", "rome", "lima"]), "days": rng.randint(1, 14)}}
                 for _ in range(rng.randint(1, 2))]
        records.append({"question": " ".join(rng.choices(words, k=rng.randint(2, 5))), "calls": calls,
                        "tags": rng.sample(["fast", "cheap", "new"], k=rng.randint(0, 2))})
    return records


@pytest.fixture(scope="module")
def bfcl_records():
    return load_bfcl(FIXTURES / "bfcl")


@pytest.fixture(scope="module")
def tool_schema():
    return JsonRecordSchema.infer(tool_records(60))


def test_inferred_schema_has_enums_ranges_required_keys_and_item_schemas(tool_schema):
    schema = tool_schema.json_schema
    assert schema["required"] == ["calls", "question", "tags"]
    call = schema["properties"]["calls"]["items"]
    assert call["properties"]["name"]["enum"] == ["book_table", "convert", "get_weather"]
    days = call["properties"]["arguments"]["properties"]["days"]
    assert (days["type"], days["minimum"], days["maximum"]) == ("integer", 1, 14)
    assert schema["properties"]["calls"]["minItems"] == 1 and schema["properties"]["calls"]["maxItems"] == 2
    assert schema["properties"]["question"]["maxLength"] >= 5  # free text: bounded, not an enum
    assert call["additionalProperties"] is False


def test_canonical_text_follows_schema_key_order_and_parses_back(tool_schema):
    record = {"tags": ["new"], "question": "a table", "calls": [{"arguments": {"days": 3, "city": "rome"},
                                                                  "name": "book_table"}]}
    text = tool_schema.to_text(record)
    assert text == ('{"question":"a table","calls":[{"name":"book_table","arguments":{"city":"rome","days":3}}],'
                    '"tags":["new"]}')
    assert tool_schema.parse(text) == record


def test_validation_names_the_path_and_the_rule(tool_schema):
    record = {"question": "x", "calls": [{"name": "fly", "arguments": {"city": "oslo", "days": 99}}], "tags": []}
    problems = tool_schema.validate(record)
    assert any(p.startswith("calls/0/name:") and "fly" in p for p in problems)
    assert any(p.startswith("calls/0/arguments/days:") and "99" in p for p in problems)
    assert tool_schema.validate(tool_records(1, seed=5)[0]) == []
    with pytest.raises(RecordParseError, match="character"):
        tool_schema.parse('{"question": "x", ')


def test_round_trip_of_every_bfcl_fixture_record(bfcl_records):
    schema = JsonRecordSchema.infer(bfcl_records)
    assert len(bfcl_records) == 30
    for record in bfcl_records:
        assert schema.parse(schema.to_text(record)) == record
        assert schema.validate(record) == []


@pytest.mark.skipif(not SHARED_BFCL.is_dir(), reason="../shared/data/bfcl is not beside the clone")
def test_round_trip_of_every_shared_bfcl_record():
    records = load_bfcl(SHARED_BFCL)
    schema = JsonRecordSchema.infer(records)
    assert len(records) == 1150
    assert all(schema.parse(schema.to_text(r)) == r and not schema.validate(r) for r in records)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(nested_records, min_size=1, max_size=6))
def test_round_trip_of_generated_nested_records(records):
    schema = JsonRecordSchema.infer(records)
    for record in records:
        text = schema.to_text(record)
        assert schema.parse(text) == record
        assert schema.validate(record) == []


def test_schema_survives_to_dict_and_is_told_apart_from_tables(tool_schema):
    restored = schema_from_dict(json.loads(json.dumps(tool_schema.to_dict(), sort_keys=True)))  # as configs save
    assert isinstance(restored, JsonRecordSchema) and restored == tool_schema
    assert restored.names == ["question", "calls", "tags"]  # the order records are written in survives
    table = TableSchema.infer(FIXTURES / "adult_sample.csv", skipinitialspace=True)
    assert isinstance(schema_from_dict(table.to_dict()), TableSchema)
    with pytest.raises(ValueError, match="Unknown schema kind 'xml'"):
        schema_from_dict({"kind": "xml"})


def test_nested_data_gets_a_json_schema_and_a_user_schema_file_wins(tmp_path, tool_schema):
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in tool_records(10)))
    assert holds_nested_records(path) and isinstance(infer_schema(path), JsonRecordSchema)
    assert isinstance(infer_schema(FIXTURES / "adult_sample.csv"), TableSchema)
    user = tmp_path / "schema.json"
    user.write_text(json.dumps({"type": "object", "properties": {"q": {"type": "string", "maxLength": 3}}}))
    assert infer_schema(path, json_schema=user).validate({"q": "long"}) == ["q: 'long' is too long"]
    user.write_text(json.dumps({"type": "object", "properties": {"q": {"type": "strang"}}}))
    with pytest.raises(ValueError, match="Not a valid JSON Schema"):
        infer_schema(path, json_schema=user)


def _sample(schema, constrained: bool, count: int = 40, fixed_values=None) -> list[str]:
    decoder, tokenizer = tiny_decoder(seed=0), tiny_tokenizer()
    processors = LogitsProcessorList()
    if constrained:
        processors.append(SchemaLogitsProcessor(schema, tokenizer, decoder.config.vocab_size, fixed_values))
    torch.manual_seed(0)
    start = torch.full((count, 1), tokenizer.bos_token_id)
    with torch.no_grad():
        ids = decoder.generate(inputs_embeds=decoder.get_input_embeddings()(start),
                               attention_mask=torch.ones_like(start),
                               logits_processor=processors, do_sample=True, top_k=0, max_new_tokens=400,
                               pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return tokenizer.batch_decode(ids, skip_special_tokens=True)


def test_random_decoder_writes_only_valid_nested_records_when_constrained(tool_schema):
    texts = _sample(tool_schema, constrained=True)
    assert record_problems(tool_schema, texts) == [[]] * len(texts)
    assert len(set(texts)) == len(texts)
    assert validity_rate(tool_schema, _sample(tool_schema, constrained=False)) == 0.0


def test_fixed_top_level_values_are_written_exactly(tool_schema):
    texts = _sample(tool_schema, constrained=True, count=5, fixed_values={"tags": ["cheap"]})
    assert [tool_schema.parse(t)["tags"] for t in texts] == [["cheap"]] * 5


def test_both_schemas_declare_what_they_can_do_and_nothing_asks_their_class():
    """Code asks a schema what it can do (``has_columns``, ``record_format``), never which class it is: a new kind
    of record then needs no change outside its own module and the dispatcher."""
    import re
    from pathlib import Path

    import pandas as pd

    from hf_latent_diffusion_lm.data import TableSchema
    from hf_latent_diffusion_lm.data.record_schemas import RecordSchema

    table = TableSchema.infer(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    nested = JsonRecordSchema.infer([{"a": {"b": 1}}, {"a": {"b": 2}}])
    assert isinstance(table, RecordSchema) and isinstance(nested, RecordSchema)
    assert (table.has_columns, nested.has_columns, nested.record_format) == (True, False, "json")
    package = Path(__file__).resolve().parents[1] / "hf_latent_diffusion_lm"
    asking = re.compile(r"isinstance\([^)]*,\s*\(?(TableSchema|JsonRecordSchema)|hasattr\([\w.]*schema")
    found = [f"{path.name}:{number}" for path in package.rglob("*.py")
             for number, line in enumerate(path.read_text().splitlines(), 1) if asking.search(line)]
    assert found == [], found
