"""TableSchema: what inference finds, exact storage, and validation messages naming column and rule."""

import json

import pandas as pd
import pytest

from hf_latent_diffusion_lm.data import CategoricalColumn, NumericalColumn, TableSchema

FRAME = pd.DataFrame(
    {
        "age": [39, 50, None, 18],
        "income": [0.5, 12.25, 3.0, -1.125],
        "city": ["Oslo", "Lima", "Oslo", "Rome"],
        "member": [True, False, True, True],
        "joined": ["2014-01-02", "2015-06-30", "2014-03-01", None],
        "note": ["a long note", "b", "c, d", "e"],
    }
)


@pytest.fixture
def schema():
    return TableSchema.infer(FRAME, target="city", max_categories=3)


def test_inferred_kinds_ranges_and_missing_values(schema):
    assert schema.names == list(FRAME.columns)
    assert schema["age"] == NumericalColumn("age", integer=True, minimum=18, maximum=50, precision=0, nullable=True)
    assert schema["income"] == NumericalColumn("income", integer=False, minimum=-1.125, maximum=12.25, precision=3)
    assert schema["city"] == CategoricalColumn("city", ("Lima", "Oslo", "Rome"))
    assert schema["member"].categories == (False, True)
    assert schema["joined"].kind == "datetime" and schema["joined"].nullable and not schema["joined"].has_time
    assert (schema["joined"].minimum, schema["joined"].maximum) == ("2014-01-02T00:00:00", "2015-06-30T00:00:00")
    assert schema["note"].kind == "text" and schema["note"].max_length == len("a long note")
    assert schema.target == "city"


def test_kinds_can_be_forced():
    schema = TableSchema.infer(FRAME, categorical=["age"], text=["city"])
    assert schema["age"].kind == "categorical" and schema["age"].categories == (18, 39, 50)
    assert schema["city"].kind == "text"


@pytest.mark.parametrize("options", [{"target": "incme"}, {"categorical": ["incme"]}])
def test_unknown_column_names_are_listed_with_the_known_ones(options):
    with pytest.raises(ValueError, match=r"incme.*'age', 'income'"):
        TableSchema.infer(FRAME, **options)


def test_dict_and_file_storage_are_exact(schema, tmp_path):
    stored = json.loads(json.dumps(schema.to_dict()))
    assert TableSchema.from_dict(stored) == schema
    schema.save(tmp_path / "schema.json")
    assert TableSchema.load(tmp_path / "schema.json") == schema


def test_records_are_plain_python_values(schema):
    first, third = schema.records(FRAME)[0], schema.records(FRAME)[2]
    assert first["age"] == 39 and type(first["age"]) is int and third["age"] is None
    assert type(first["member"]) is bool and first["joined"] == pd.Timestamp("2014-01-02")


def test_valid_rows_have_no_problems(schema):
    assert all(schema.validate(row) == [] for row in schema.records(FRAME))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"age": 51}, "column 'age': 51 is outside the range [18, 50]"),
        ({"age": 20.5}, "column 'age': 20.5 is not an integer"),
        ({"income": 0.0625}, "column 'income': 0.0625 has more than 3 decimals"),
        ({"income": None}, "column 'income' is missing"),
        ({"city": "Paris"}, "column 'city': 'Paris' is not one of its 3 categories"),
        ({"member": 1}, "column 'member': 1 is not one of its 2 categories"),
        ({"note": "x" * 12}, "column 'note': text of 12 characters is longer"),
        ({"joined": pd.Timestamp("2020-01-01")}, "column 'joined': 2020-01-01 00:00:00 is outside the range"),
    ],
)
def test_validate_names_column_and_rule(schema, change, message):
    row = {**schema.records(FRAME)[0], **change}
    problems = schema.validate(row)
    assert len(problems) == 1 and problems[0].startswith(message)


def test_validate_reports_absent_and_unknown_columns(schema):
    row = schema.records(FRAME)[0]
    del row["note"]
    assert schema.validate({**row, "extra": 1}) == ["unknown column 'extra'", "column 'note' is absent"]


def test_records_to_frame_uses_the_schema_dtypes(schema):
    frame = schema.records_to_frame(schema.records(FRAME))
    assert list(frame.columns) == schema.names
    assert str(frame["age"].dtype) == "Int64" and frame["age"].isna().sum() == 1
    assert frame["income"].dtype == "float64"
    assert list(frame["city"].cat.categories) == ["Lima", "Oslo", "Rome"]
    assert str(frame["joined"].dtype).startswith("datetime64")
