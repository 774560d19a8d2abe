"""The TabSyn data protocol (which DiffLM reuses) for the four UCI benchmark tables, read from their raw files.

Numbers are only comparable with published ones if every model sees the same rows, so each quirk is decided here
once: adult keeps its official train/test files; magic, shoppers and beijing are split 90/10 by a permutation seeded
with 1234. Where TabSyn's own scripts differ, ours is the deliberate choice and is named below:

- adult: the files separate fields with ", "; the space belongs to the separator and is stripped (TabSyn keeps
  " Private"). Missing values stay the category "?" (not NaN). ``adult.test`` starts with a junk line
  ("|1x3 Cross validator"), skipped, and its labels end with ".", removed so both splits share "<=50K"/">50K".
- magic: ``magic04.data`` has no header; all 19,020 rows are kept (TabSyn reads it with a header and loses row 1).
- shoppers: read as is (Weekend and Revenue are booleans); the integer-coded columns are categorical.
- beijing: rows with a missing pm2.5 are dropped (41,757 rows left) and the "No" column, a running row number that
  carries no information a generator should learn, is dropped as TabSyn does.

Tool calls come from BFCL (the Berkeley Function Calling Leaderboard): :func:`load_bfcl` joins its question and
possible-answer files into records ``{"question", "functions", "calls"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SPLIT_SEED = 1234
TRAIN_FRACTION = 0.9

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation", "relationship",
    "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income",
]
ADULT_NUMERICAL = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
MAGIC_COLUMNS = ["fLength", "fWidth", "fSize", "fConc", "fConc1", "fAsym", "fM3Long", "fM3Trans", "fAlpha", "fDist",
                 "class"]


@dataclass(frozen=True)
class BenchmarkDataset:
    """One benchmark table split as the protocol says, with what the evaluation needs to know about it."""

    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    target: str
    task: str  # "classification" (ROC-AUC) or "regression" (RMSE)
    categorical_columns: tuple[str, ...]


def _raw_file(data_dir: Path, name: str, file_name: str) -> Path:
    path = Path(data_dir) / name / file_name
    if not path.is_file():
        raise FileNotFoundError(f"The {name} benchmark needs {str(path)!r} (the raw UCI file); it is not there.")
    return path


def split_train_test(frame: pd.DataFrame, seed: int = SPLIT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The protocol's 90/10 split: a seeded permutation, the first floor(90%) rows train, the rest test."""
    order = np.random.default_rng(seed).permutation(len(frame))
    num_train = int(len(frame) * TRAIN_FRACTION)
    train = frame.iloc[order[:num_train]].reset_index(drop=True)
    test = frame.iloc[order[num_train:]].reset_index(drop=True)
    return train, test


def _read_adult_file(path: Path, skip_first_line: bool) -> pd.DataFrame:
    frame = pd.read_csv(path, header=None, names=ADULT_COLUMNS, skipinitialspace=True,
                        skiprows=1 if skip_first_line else 0, na_filter=False, dtype=str)
    frame[ADULT_NUMERICAL] = frame[ADULT_NUMERICAL].astype("int64")
    frame["income"] = frame["income"].str.rstrip(".")
    return frame


def load_adult(data_dir: str | Path) -> BenchmarkDataset:
    train = _read_adult_file(_raw_file(data_dir, "adult", "adult.data"), skip_first_line=False)
    test = _read_adult_file(_raw_file(data_dir, "adult", "adult.test"), skip_first_line=True)
    categorical = tuple(name for name in ADULT_COLUMNS if name not in ADULT_NUMERICAL)
    return BenchmarkDataset("adult", train, test, "income", "classification", categorical)


def load_magic(data_dir: str | Path) -> BenchmarkDataset:
    frame = pd.read_csv(_raw_file(data_dir, "magic", "magic04.data"), header=None, names=MAGIC_COLUMNS)
    train, test = split_train_test(frame)
    return BenchmarkDataset("magic", train, test, "class", "classification", ("class",))


def load_shoppers(data_dir: str | Path) -> BenchmarkDataset:
    frame = pd.read_csv(_raw_file(data_dir, "shoppers", "online_shoppers_intention.csv"))
    train, test = split_train_test(frame)
    categorical = ("Month", "OperatingSystems", "Browser", "Region", "TrafficType", "VisitorType", "Weekend",
                   "Revenue")
    return BenchmarkDataset("shoppers", train, test, "Revenue", "classification", categorical)


def load_beijing(data_dir: str | Path) -> BenchmarkDataset:
    frame = pd.read_csv(_raw_file(data_dir, "beijing", "PRSA_data_2010.1.1-2014.12.31.csv"))
    frame = frame.drop(columns="No").dropna(subset=["pm2.5"]).reset_index(drop=True)
    train, test = split_train_test(frame)
    return BenchmarkDataset("beijing", train, test, "pm2.5", "regression", ("cbwd",))


def privacy_halves(train: pd.DataFrame, seed: int = SPLIT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training split cut 50/50 by a seeded permutation: generators learn from the first half, and the second
    is the equally large holdout that DCR and membership inference need (TabSyn's privacy protocol). With an odd
    number of rows the last row of the permutation is left out, so the halves have equal size."""
    order = np.random.default_rng(seed).permutation(len(train))
    half = len(train) // 2
    return (train.iloc[order[:half]].reset_index(drop=True), train.iloc[order[half:2 * half]].reset_index(drop=True))


LOADERS = {"adult": load_adult, "magic": load_magic, "shoppers": load_shoppers, "beijing": load_beijing}


def load_benchmark_dataset(name: str, data_dir: str | Path) -> BenchmarkDataset:
    """Train/test splits, target and task of benchmark ``name`` from the raw files under ``data_dir/name/``."""
    if name not in LOADERS:
        raise ValueError(f"Unknown benchmark dataset {name!r}; choose one of {', '.join(LOADERS)}.")
    return LOADERS[name](data_dir)


BFCL_ANSWERS = "possible_answer"
_OMITTED = object()


def _read_json_lines(path: Path) -> dict[str, dict]:
    """The records of a BFCL file by ``id``."""
    with open(path, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return {record["id"]: record for record in records}


def _first_accepted(values):
    """BFCL lists every accepted value of an argument, ``""`` meaning "may be omitted": the first real one (dicts
    nest the same convention), or ``_OMITTED`` when omitting is the only choice."""
    chosen = next((value for value in values if value != ""), _OMITTED) if isinstance(values, list) else values
    if isinstance(chosen, dict):
        nested = {key: _first_accepted(value) for key, value in chosen.items()}
        return {key: value for key, value in nested.items() if value is not _OMITTED}
    return chosen


def _call(ground_truth: dict) -> dict:
    (name, arguments), = ground_truth.items()
    values = {key: _first_accepted(accepted) for key, accepted in arguments.items()}
    return {"name": name, "arguments": {key: value for key, value in values.items() if value is not _OMITTED}}


def load_bfcl(directory: str | Path) -> list[dict]:
    """Tool-use records ``{"question": str, "functions": [...], "calls": [{"name", "arguments"}]}`` from every BFCL
    question file in ``directory`` that has an answer file of the same name under ``possible_answer/``, joined by
    ``id`` (files in name order, records in file order). Each argument takes its first accepted value; arguments
    whose only accepted value is ``""`` (omit it) are dropped."""
    directory = Path(directory)
    answers_dir = directory / BFCL_ANSWERS
    pairs = [(path, answers_dir / path.name) for path in sorted(directory.glob("*.json"))
             if (answers_dir / path.name).is_file()]
    if not pairs:
        raise FileNotFoundError(
            f"No BFCL question file with a matching {BFCL_ANSWERS}/ answer file in {str(directory)!r}."
        )
    records = []
    for questions_path, answers_path in pairs:
        answers = _read_json_lines(answers_path)
        for key, question in _read_json_lines(questions_path).items():
            if key not in answers:
                raise ValueError(f"{str(questions_path)!r}: question {key!r} has no answer in {str(answers_path)!r}.")
            turns = [message["content"] for turn in question["question"] for message in turn
                     if message["role"] == "user"]
            records.append({"question": "\n".join(turns), "functions": question["function"],
                            "calls": [_call(call) for call in answers[key]["ground_truth"]]})
    return records
