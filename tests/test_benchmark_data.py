"""The TabSyn protocol loaders read the raw UCI formats right (tiny files written here in those formats, so the
tests do not need ../shared/data) and split deterministically."""

from __future__ import annotations

import pandas as pd
import pytest

from hf_latent_diffusion_lm.benchmark_data import load_benchmark_dataset, split_train_test

ADULT_ROWS = [
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, "
    "United-States, <=50K",
    "50, ?, 83311, Bachelors, 13, Married-civ-spouse, ?, Husband, White, Male, 0, 0, 13, United-States, >50K",
]


def write(path, text: str, newline: str = "\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())


@pytest.fixture
def data_dir(tmp_path):
    write(tmp_path / "adult" / "adult.data", "\n".join(ADULT_ROWS * 3) + "\n\n")
    test_rows = [row.rstrip() + "." for row in ADULT_ROWS]
    write(tmp_path / "adult" / "adult.test", "|1x3 Cross validator\n" + "\n".join(test_rows) + "\n")
    magic = [f"{index}.5,{index + 1}.25,2.6,0.39,0.19,27.7,22.0,-8.2,40.0,81.8,{'gh'[index % 2]}"
             for index in range(20)]
    write(tmp_path / "magic" / "magic04.data", "\n".join(magic) + "\n")
    header = "No,year,month,day,hour,pm2.5,DEWP,TEMP,PRES,cbwd,Iws,Is,Ir"
    beijing = [f"{index + 1},2010,1,1,{index % 24},{'NA' if index < 3 else 100 + index},-21,-11,1021,NW,1.79,0,0"
               for index in range(23)]
    write(tmp_path / "beijing" / "PRSA_data_2010.1.1-2014.12.31.csv", "\n".join([header, *beijing]) + "\n", "\r\n")
    shoppers_header = ("Administrative,Administrative_Duration,Informational,Informational_Duration,ProductRelated,"
                       "ProductRelated_Duration,BounceRates,ExitRates,PageValues,SpecialDay,Month,OperatingSystems,"
                       "Browser,Region,TrafficType,VisitorType,Weekend,Revenue")
    shoppers = [f"{index},0,0,0,1,0,0.2,0.2,0,0,Feb,1,1,1,{index % 3 + 1},Returning_Visitor,FALSE,"
                f"{'TRUE' if index % 4 == 0 else 'FALSE'}" for index in range(10)]
    write(tmp_path / "shoppers" / "online_shoppers_intention.csv", "\n".join([shoppers_header, *shoppers]) + "\n",
          "\r\n")
    return tmp_path


def test_adult_keeps_the_official_split_and_question_marks(data_dir):
    adult = load_benchmark_dataset("adult", data_dir)
    assert (len(adult.train), len(adult.test)) == (6, 2)
    assert adult.target == "income" and adult.task == "classification"
    assert sorted(adult.test["income"]) == ["<=50K", ">50K"]  # the trailing "." is gone
    assert adult.train.loc[1, "workclass"] == "?" and adult.train.loc[1, "occupation"] == "?"
    assert adult.train.loc[0, "workclass"] == "State-gov"  # the separator's space is stripped
    assert adult.train["age"].dtype == "int64"
    assert "workclass" in adult.categorical_columns and "age" not in adult.categorical_columns


def test_magic_keeps_its_first_row(data_dir):
    magic = load_benchmark_dataset("magic", data_dir)
    both = pd.concat([magic.train, magic.test])
    assert (len(magic.train), len(magic.test)) == (18, 2)
    assert 0.5 in set(both["fLength"])  # the first line of the header-less file is data
    assert magic.target == "class" and set(both["class"]) == {"g", "h"}


def test_beijing_drops_missing_targets_and_the_row_number(data_dir):
    beijing = load_benchmark_dataset("beijing", data_dir)
    both = pd.concat([beijing.train, beijing.test])
    assert len(both) == 20 and both["pm2.5"].notna().all()
    assert "No" not in both.columns
    assert beijing.task == "regression" and beijing.target == "pm2.5"


def test_shoppers_target_and_integer_coded_categories(data_dir):
    shoppers = load_benchmark_dataset("shoppers", data_dir)
    assert (len(shoppers.train), len(shoppers.test)) == (9, 1)
    assert shoppers.target == "Revenue" and shoppers.task == "classification"
    assert "TrafficType" in shoppers.categorical_columns


def test_split_is_seeded_with_1234_and_reproducible(data_dir):
    first, second = load_benchmark_dataset("magic", data_dir), load_benchmark_dataset("magic", data_dir)
    pd.testing.assert_frame_equal(first.train, second.train)
    frame = pd.DataFrame({"row": range(100)})
    train, test = split_train_test(frame)
    assert sorted([*train["row"], *test["row"]]) == list(range(100))  # a partition
    assert (len(train), len(test)) == (90, 10)
    assert train.equals(split_train_test(frame, seed=1234)[0])
    assert not train.equals(split_train_test(frame, seed=1)[0])


def test_missing_files_and_unknown_names_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="magic04.data"):
        load_benchmark_dataset("magic", tmp_path)
    with pytest.raises(ValueError, match="'covtype'"):
        load_benchmark_dataset("covtype", tmp_path)
