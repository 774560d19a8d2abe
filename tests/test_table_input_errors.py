"""Tables that cannot be read as they are: one clear error naming the file and what to do, before any training."""

from __future__ import annotations

import pandas as pd
import pytest

from hf_latent_diffusion_lm.data import read_table


def test_duplicate_header_names_are_refused_not_renamed(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,a,b\n1,2,3\n")
    with pytest.raises(ValueError, match=r"duplicated column names: \['a'\]"):
        read_table(path)


def test_latin1_file_suggests_the_encoding_option(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("city,n\nZürich,1\nMálaga,2\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r'--read-options \'\{"encoding": "latin-1"\}\''):
        read_table(path)
    assert read_table(path, encoding="latin-1")["city"].tolist() == ["Zürich", "Málaga"]


def test_random_bytes_are_not_called_ragged_rows(tmp_path):
    path = tmp_path / "noise.csv"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError, match="not a text table") as error:
        read_table(path)
    assert "ragged" not in str(error.value)


def test_unknown_read_option_is_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    with pytest.raises(ValueError, match="nosuch"):
        read_table(path, nosuch=1)


def test_list_values_name_the_column_and_row(tmp_path):
    path = tmp_path / "nested.jsonl"
    path.write_text('{"a": 1, "tags": "x"}\n{"a": 2, "tags": ["x", "y"]}\n')
    with pytest.raises(ValueError, match=r"column 'tags' holds a nested value \['x', 'y'\] \(row 1\)"):
        read_table(path)
    pd.DataFrame({"a": [1, 2], "tags": [["x"], ["y", "z"]]}).to_parquet(tmp_path / "nested.parquet")
    with pytest.raises(ValueError, match="column 'tags' holds a nested value"):
        read_table(tmp_path / "nested.parquet")


def test_partial_tables_may_have_empty_columns_when_asked(tmp_path):
    path = tmp_path / "partial.csv"
    path.write_text("a,b\n1,\n")
    with pytest.raises(ValueError, match="only missing values"):
        read_table(path)
    assert read_table(path, allow_empty_columns=True)["b"].isna().all()


def test_a_column_mixing_booleans_and_numbers_is_refused_by_name():
    import pandas as pd

    from hf_latent_diffusion_lm.data import TableSchema

    with pytest.raises(ValueError, match="'flag' mixes booleans"):  # found by the round-trip property test
        TableSchema.infer(pd.DataFrame({"flag": pd.Series([0, 0, False], dtype=object)}))
