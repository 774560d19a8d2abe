"""The record format round-trips every row exactly, hostile values included; parse errors say where and which column."""

import math
from dataclasses import replace

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from hf_latent_diffusion_lm.data import (
    CategoricalColumn,
    DatetimeColumn,
    NumericalColumn,
    RecordParseError,
    TableSchema,
    TextColumn,
)

HOSTILE = ["", " ", ",", "}", "{", '"', '"quoted"', "\n", "a\r\nb", "\t", "x: y", ", b: ", "\\", "\\n", "é中文😀",
           " lead", "trail ", "\x00", "\u2028", "null", "None", "12", "-0", "{a: 1}"]
hostile_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12))
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
names = st.lists(hostile_text.filter(bool), min_size=1, max_size=5, unique=True)


def wide_schema(names: list[str]) -> TableSchema:
    """Every kind of column in turn, loose enough that any generated value is representable."""
    kinds = [
        NumericalColumn("", integer=True, minimum=-(10**30), maximum=10**30, nullable=True),
        NumericalColumn("", integer=False, minimum=-1e308, maximum=1e308, precision=400, nullable=True),
        CategoricalColumn("", tuple(HOSTILE) + (True, 7, 2.5), nullable=True),
        TextColumn("", max_length=100, nullable=True),
        DatetimeColumn("", "1900-01-01", "2100-01-01", has_time=True, nullable=True),
    ]
    return TableSchema(tuple(replace(kinds[i % len(kinds)], name=name) for i, name in enumerate(names)))


VALUES = [
    st.one_of(st.none(), st.integers(min_value=-(10**30), max_value=10**30)),
    st.one_of(st.none(), finite_floats),
    st.one_of(st.none(), st.sampled_from(tuple(HOSTILE) + (True, 7, 2.5))),
    st.one_of(st.none(), hostile_text),
    st.one_of(st.none(), st.datetimes().map(pd.Timestamp)),
]


@st.composite
def schema_and_row(draw):
    column_names = draw(names)
    row = {name: draw(VALUES[i % 5]) for i, name in enumerate(column_names)}
    return wide_schema(column_names), row


def same_values(left: dict, right: dict) -> bool:
    return list(left) == list(right) and all(
        type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))
        for a, b in zip(left.values(), right.values())
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema_and_row())
def test_round_trip_is_exact_for_hostile_rows(case):
    schema, row = case
    text = schema.to_text(row)
    assert same_values(schema.parse(text), row)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data_frames(
        [
            column("count", dtype=int, elements=st.integers(-(10**9), 10**9)),
            column("ratio", elements=finite_floats),
            column("word", elements=st.sampled_from(HOSTILE[1:8])),
            column("note", elements=hostile_text),
        ],
        index=range_indexes(min_size=1, max_size=20),
    )
)
def test_round_trip_is_exact_on_inferred_schemas(frame):
    schema = TableSchema.infer(frame, max_categories=3)
    for row in schema.records(frame):
        assert same_values(schema.parse(schema.to_text(row)), row)
        assert schema.validate(row) == []


def test_format_is_compact_and_readable():
    schema = TableSchema.infer(pd.DataFrame({"age": [39, None], "city": ["Oslo", "Lima, PE"], "x": [0.1, 64.0]}))
    rows = schema.records(pd.DataFrame({"age": [39, None], "city": ["Oslo", "Lima, PE"], "x": [0.1, 64.0]}))
    assert [schema.to_text(r) for r in rows] == ['{age: 39, city: Oslo, x: 0.1}', '{age: , city: "Lima, PE", x: 64}']


@pytest.mark.parametrize(
    "text, position, column",
    [
        ("{age: 3x, city: Oslo}", 7, "age"),
        ("{age: 3, town: Oslo}", 9, "city"),
        ('{age: 3, city: "Oslo}', 15, "city"),  # the unterminated string starts here
        ("{age: 3, city: Oslo", 19, "city"),
        ("{age: 3, city: Oslo} and more", 20, None),
        ("age: 3, city: Oslo}", 0, "age"),
        ("{age: abc, city: Oslo}", 6, "age"),
    ],
)
def test_parse_errors_name_position_and_column(text, position, column):
    schema = TableSchema.infer(pd.DataFrame({"age": [3, 4], "city": ["Oslo", "Rome"]}))
    with pytest.raises(RecordParseError) as error:
        schema.parse(text)
    assert (error.value.position, error.value.column) == (position, column)
    assert f"At character {position}" in str(error.value)


def test_rows_not_matching_the_schema_are_refused_by_to_text():
    schema = TableSchema.infer(pd.DataFrame({"age": [3, 4]}))
    with pytest.raises(ValueError, match="absent columns \\['age'\\]"):
        schema.to_text({"agee": 3})
    with pytest.raises(ValueError, match="'age' is numerical but holds 'three'"):
        schema.to_text({"age": "three"})
