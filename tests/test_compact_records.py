"""Compact records (values only, column names implied by the schema) round-trip, are what the grammar allows, are
shorter than keyed ones, and the choice travels with the schema."""

import json
from dataclasses import replace

import pandas as pd
import pytest
import xgrammar as xgr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_record_format import hostile_text, names, wide_schema

from hf_latent_diffusion_lm.data import TableSchema
from hf_latent_diffusion_lm.grammar import grammar_compiler
from hf_latent_diffusion_lm.data.record_grammar import schema_grammar
from hf_latent_diffusion_lm.testing import tiny_tokenizer

TABLE = pd.DataFrame({
    "age": [39, 50, None, 23],
    "city": ["Paris, TX", "Rome", '"quoted"', ""],
    "score": [0.5, 1.25, 3.0, -2.0],
    "when": ["2020-01-01", "2021-06-30", "2020-02-29", "2022-12-31"],
})


def compact(schema: TableSchema) -> TableSchema:
    return replace(schema, record_format="compact")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), names)
def test_compact_records_round_trip_hostile_values(data, column_names):
    schema = compact(wide_schema(column_names))
    row = {}
    for column in schema.columns:
        if column.kind == "numerical":
            value = data.draw(st.one_of(st.none(), st.integers(-10**6, 10**6)) if column.integer
                              else st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)))
        elif column.kind == "categorical":
            value = data.draw(st.one_of(st.none(), st.sampled_from(column.categories)))
        elif column.kind == "text":
            value = data.draw(st.one_of(st.none(), hostile_text))
        else:
            value = data.draw(st.one_of(st.none(), st.just(pd.Timestamp("2001-02-03 04:05:06"))))
        row[column.name] = value
    assert schema.parse(schema.to_text(row)) == row


def test_grammar_accepts_the_compact_records_and_rejects_keyed_ones():
    tokenizer = tiny_tokenizer()
    keyed = TableSchema.infer(TABLE)
    schema = compact(keyed)
    compiled = grammar_compiler(tokenizer, len(tokenizer)).compile_grammar(schema_grammar(schema))
    for row in schema.records(TABLE):
        text = schema.to_text(row)
        assert xgr.GrammarMatcher(compiled).accept_string(text), text
        assert not xgr.GrammarMatcher(compiled).accept_string(keyed.to_text(row))
        assert len(tokenizer(text)["input_ids"]) < len(tokenizer(keyed.to_text(row))["input_ids"])


def test_record_format_is_stored_with_the_schema(tmp_path):
    schema = compact(TableSchema.infer(TABLE))
    schema.save(tmp_path / "schema.json")
    loaded = TableSchema.load(tmp_path / "schema.json")
    assert loaded.record_format == "compact" and loaded == schema
    legacy = {k: v for k, v in json.loads((tmp_path / "schema.json").read_text()).items() if k != "record_format"}
    assert TableSchema.from_dict(legacy).record_format == "keyed"
    with pytest.raises(ValueError, match="record_format must be one of"):
        replace(schema, record_format="csv")
