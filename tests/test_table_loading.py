"""read_table: every supported input gives the same DataFrame; bad input fails with a message naming the problem."""

import datasets
import pandas as pd
import pytest

from hf_latent_diffusion_lm.data import read_table

FRAME = pd.DataFrame({"age": [39, 50, 38], "city": ["Oslo", "Lima, PE", None], "score": [0.5, 1.25, 2.0]})


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_files_by_suffix_read_like_the_frame(tmp_path, suffix):
    path = tmp_path / f"table{suffix}"
    if suffix == ".csv":
        FRAME.to_csv(path, index=False)
    elif suffix == ".parquet":
        FRAME.to_parquet(path)
    else:
        FRAME.to_json(path, orient="records", lines=True)
    pd.testing.assert_frame_equal(read_table(path), FRAME, check_dtype=False)


def test_frame_and_dataset_inputs():
    assert read_table(FRAME) is FRAME
    pd.testing.assert_frame_equal(read_table(datasets.Dataset.from_pandas(FRAME)), FRAME, check_dtype=False)


def test_headerless_file_with_format_and_column_names(tmp_path):
    path = tmp_path / "adult.data"
    path.write_text("39, State-gov\n50, Private\n\n")
    with pytest.raises(ValueError, match="format="):
        read_table(path)
    frame = read_table(path, format="csv", column_names=["age", "workclass"], skipinitialspace=True)
    assert frame.to_dict("list") == {"age": [39, 50], "workclass": ["State-gov", "Private"]}


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        read_table("nowhere.csv")


def test_empty_file_and_header_only(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="no data"):
        read_table(tmp_path / "header.csv")


def test_unreadable_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_text("this is not parquet")
    with pytest.raises(ValueError, match="Cannot read .*broken.parquet.* as parquet"):
        read_table(path)


@pytest.mark.parametrize("bad_line", ["4,5", "4,5,6,7"])
def test_ragged_rows_name_the_line(tmp_path, bad_line):
    path = tmp_path / "ragged.csv"
    path.write_text(f"a,b,c\n1,2,3\n{bad_line}\n7,8,9\n")
    with pytest.raises(ValueError, match="line 3 has"):
        read_table(path)


def test_all_missing_column_is_named():
    with pytest.raises(ValueError, match="'empty'"):
        read_table(pd.DataFrame({"a": [1, 2], "empty": [None, None]}))


def test_other_inputs_are_refused():
    with pytest.raises(TypeError, match="list"):
        read_table([1, 2])
