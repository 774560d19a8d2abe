"""Values come back exactly as the user gave them: integers at any size, zone-aware timestamps with their zone."""

from __future__ import annotations

import pandas as pd
import pytest

from hf_latent_diffusion_lm.data import TableSchema, read_table
from hf_latent_diffusion_lm.data.record_grammar import schema_grammar

LARGEST = 2**63 - 1


def round_trip(schema, frame):
    records = schema.records(frame)
    return schema.records_to_frame([schema.parse(schema.to_text(record)) for record in records])


def test_integers_near_2_63_stay_exact_through_csv_schema_grammar_and_frame(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text(f"id,big,n\n{LARGEST},{2**64 - 1},1\n,{2**64 - 2},2\n{LARGEST - 1},{2**64 - 1},3\n")
    frame = read_table(path)
    schema = TableSchema.infer(frame)
    assert (schema["id"].minimum, schema["id"].maximum) == (LARGEST - 1, LARGEST)
    assert TableSchema.from_dict(schema.to_dict()) == schema  # JSON keeps the exact bounds
    grammar = schema_grammar(schema).replace('"', "").replace(" ", "")
    assert "value0::=(922337203685477580[6-7])?" in grammar  # exactly [2**63 - 2, 2**63 - 1], missing allowed
    back = round_trip(schema, frame)
    assert back["id"].tolist()[0] == LARGEST and back["id"].tolist()[2] == LARGEST - 1 and back["id"].isna()[1]
    assert str(back["id"].dtype) == "Int64" and str(back["big"].dtype) == "uint64"
    assert back["big"].tolist() == [2**64 - 1, 2**64 - 2, 2**64 - 1]


def test_integers_beyond_64_bits_from_json_lines_are_python_ints(tmp_path):
    path = tmp_path / "huge.jsonl"
    path.write_text(f'{{"k": {2**70}}}\n{{"k": null}}\n{{"k": -{2**70}}}\n')
    schema = TableSchema.infer(path)
    assert schema["k"].integer and schema["k"].maximum == 2**70
    back = round_trip(schema, read_table(path))
    assert back["k"].tolist() == [2**70, None, -(2**70)]


def test_one_offset_keeps_its_zone_and_midnight_keeps_the_zone():
    frame = pd.DataFrame({"t": ["2020-01-01T00:00:00+02:00", "2020-06-01T10:30:00+02:00"], "n": [1, 2]})
    schema = TableSchema.infer(frame)
    assert schema["t"].timezone == "+02:00"
    records = schema.records(frame)
    parsed = [schema.parse(schema.to_text(record)) for record in records]
    assert parsed == records and all(stamp["t"].utcoffset() == pd.Timedelta(hours=2) for stamp in parsed)
    assert schema.validate(parsed[0]) == []  # the check that failed every sample ("tz-naive and tz-aware")
    back = schema.records_to_frame(parsed)
    assert back["t"].iloc[0] == pd.Timestamp("2020-01-01T00:00:00+02:00") and str(back["t"].dt.tz) == "UTC+02:00"


def test_mixed_offsets_are_normalized_to_utc():
    frame = pd.DataFrame({"t": ["2020-01-01T00:00:00+02:00", "2020-01-01T00:00:00-05:00"]})
    schema = TableSchema.infer(frame)
    assert schema["t"].timezone == "UTC" and schema["t"].maximum == "2020-01-01T05:00:00"
    records = schema.records(frame)
    assert [schema.parse(schema.to_text(r)) for r in records] == records
    assert records[0]["t"] == pd.Timestamp("2019-12-31T22:00:00Z")


def test_timestamps_with_and_without_a_zone_are_refused_at_inference():
    frame = pd.DataFrame({"t": ["2020-01-01T00:00:00+02:00", "2020-01-02"]})
    with pytest.raises(ValueError, match="'t' mixes timestamps with and without a time zone"):
        TableSchema.infer(frame)


def test_codes_with_leading_zeros_stay_text(tmp_path):
    path = tmp_path / "zip.csv"
    path.write_text("zip,n\n02139,1\n10001,2\n00501,3\n")
    frame = read_table(path)
    assert frame["zip"].tolist() == ["02139", "10001", "00501"] and frame["n"].tolist() == [1, 2, 3]
    schema = TableSchema.infer(frame)
    assert schema.to_text(schema.records(frame)[0]) == "{zip: 02139, n: 1}"
