"""Property: for any table, schema inference + ``to_text`` + ``parse`` gives every row back exactly (same values,
same Python types, same time zones), or inference refuses the table with an error naming the column."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_latent_diffusion_lm.data import TableSchema
from hf_latent_diffusion_lm.data.table_columns import is_missing

HOSTILE = ["", " ", ",", "}", "{", '"', '"quoted"', "a, b: c", "}, x: 1", "\n", "tab\there", " lead", "trail ",
           "nan", "None", "NaT", "null", "-0", "1e5", "０", "é", "🙂", "\u200b", "\\", "\\u0041", "\x7f", "a\x00b"]
ZONES = [dt.timezone.utc, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))]

integers = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(2**63 - 5, 2**63 + 5),
                     st.integers(-(2**63) - 5, -(2**63) + 5), st.integers(-(10**30), 10**30), st.integers(-3, 3))
floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.floats(-1e6, 1e6).map(lambda v: round(v, 3)),
                   st.sampled_from([0.1, -0.0, 5e-324, 1.7976931348623157e308, 2.0**53 + 2]))
texts = st.one_of(st.text(max_size=12), st.sampled_from(HOSTILE))
naive_times = st.one_of(st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)),
                        st.datetimes(dt.datetime(1000, 1, 2), dt.datetime(9999, 12, 30)))  # beyond nanoseconds' range
stamps = st.one_of(naive_times.map(pd.Timestamp), st.dates(dt.date(1900, 1, 1), dt.date(2200, 1, 1)).map(pd.Timestamp))
aware_stamps = st.builds(lambda moment, zone: pd.Timestamp(moment.replace(tzinfo=zone)), naive_times,
                         st.sampled_from(ZONES))
KINDS = {"integer": integers, "float": floats, "text": texts, "bool": st.booleans(), "naive datetime": stamps,
         "aware datetime": aware_stamps, "iso text": st.one_of(stamps, aware_stamps).map(lambda s: s.isoformat()),
         "mixed": st.one_of(integers, floats, texts, st.booleans(), stamps, aware_stamps)}


@st.composite
def tables(draw):
    rows = draw(st.integers(1, 6))
    names = draw(st.lists(st.one_of(st.text(min_size=1, max_size=6), st.sampled_from(HOSTILE[1:])), min_size=1,
                          max_size=4, unique=True))
    columns = {}
    for name in names:
        values = draw(st.lists(KINDS[draw(st.sampled_from(sorted(KINDS)))], min_size=rows, max_size=rows))
        holes = draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
        values = [None if hole and index else value for index, (value, hole) in enumerate(zip(values, holes))]
        columns[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns), draw(st.integers(0, 3))


def same(first, second) -> bool:
    """Equal values of equal types; timestamps also in the same zone."""
    if is_missing(first) or is_missing(second):
        return is_missing(first) and is_missing(second)
    if type(first) is not type(second):
        return False
    if isinstance(first, float) and math.isnan(first):
        return math.isnan(second)
    if isinstance(first, pd.Timestamp):
        return first == second and str(first.tz) == str(second.tz)
    return first == second


def same_value(original, kept) -> bool:
    """The schema's value is the user's value (numbers compare exactly across int/float, times across zones)."""
    if is_missing(original):
        return is_missing(kept)
    if isinstance(original, str) and isinstance(kept, pd.Timestamp):
        return pd.Timestamp(original) == kept
    if isinstance(original, pd.Timestamp):
        return original == kept and (original.tzinfo is None) == (kept.tzinfo is None)
    return original == kept


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_inferred_schema_round_trips_every_row_or_refuses_clearly(table):
    frame, max_categories = table
    try:
        schema = TableSchema.infer(frame, max_categories=max_categories)
    except ValueError as error:
        assert any(repr(str(name)) in str(error) for name in frame.columns), str(error)
        return
    records = schema.records(frame)
    for index, record in enumerate(records):
        for name in schema.names:
            assert same_value(frame[name].iloc[index], record[name]), (name, frame[name].iloc[index], record[name])
        assert schema.validate(record) == []
        text = schema.to_text(record)
        back = schema.parse(text)
        assert all(same(record[name], back[name]) for name in schema.names), (text, record, back)
    again = TableSchema.from_dict(schema.to_dict())
    assert again == schema
    rebuilt = schema.records(schema.records_to_frame(records))
    assert all(same(a[n], b[n]) for a, b in zip(records, rebuilt) for n in schema.names), (records, rebuilt)
