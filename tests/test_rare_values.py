"""Rare categories and extreme values stay out of everything a fitted model publishes (issue #23 item 4)."""

from __future__ import annotations

import contextlib
import io
import json

import pandas as pd
import pytest
import torch

from hf_latent_diffusion_lm import LatentDiffusionLMPipeline
from hf_latent_diffusion_lm.cli import main as ldlm
from hf_latent_diffusion_lm.data import TableSchema
from hf_latent_diffusion_lm.data.rare_values import RARE_CATEGORY, protect_rare_values
from hf_latent_diffusion_lm.training import VAETrainingConfig, train_vae
from hf_latent_diffusion_lm.training.vae_training import load_training_table, training_table

RARE_ZIPS = [f"Q{70100 + i}" for i in range(40)]  # each held by one row
COMMON_ZIPS = ["A1000", "B2000", "C3000"]
LOWEST, HIGHEST = 1357913, 97531864  # the salary outliers
ROWS = RARE_ZIPS + [zip_code for zip_code in COMMON_ZIPS for _ in range(6)]
TABLE = pd.DataFrame({
    "zip": ROWS,
    "salary": [LOWEST, HIGHEST] + [5_000_000 + 7919 * i for i in range(len(ROWS) - 2)],
    "age": [20 + i % 40 for i in range(len(ROWS))],
    "label": ["yes", "no"] * (len(ROWS) // 2),
})
FAST = ["--preset", "tiny", "--max-steps", "3", "--diffusion-max-steps", "5", "--batch-size", "4"]
PROTECTED = ["--min-category-count", "5", "--range-quantile", "5"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "zips.csv"
    TABLE.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fitted(table, tmp_path_factory):
    """The model fitted with both protections, and what ``ldlm fit`` printed."""
    out = tmp_path_factory.mktemp("models") / "model"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert ldlm(["fit", str(table), "--out", str(out), *FAST, *PROTECTED]) == 0
    return out, printed.getvalue()


def saved_bytes(folder) -> dict:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_fit_publishes_no_rare_category_and_no_extreme(fitted):
    out, _ = fitted
    files = saved_bytes(out)
    assert files
    for secret in [*RARE_ZIPS, str(LOWEST), str(HIGHEST)]:
        holding = [str(path) for path, data in files.items() if secret.encode() in data]
        assert not holding, f"{secret} is in {holding}"
    schema = TableSchema.load(out / "training" / "schema.json")
    assert set(schema["zip"].categories) == {*COMMON_ZIPS, RARE_CATEGORY}
    assert LOWEST < schema["salary"].minimum and schema["salary"].maximum < HIGHEST
    assert schema.protection == {"min_category_count": 5, "range_quantile": 5, "placeholder": RARE_CATEGORY}
    card = (out / "README.md").read_text()
    assert "`--min-category-count 5`" in card and "`--range-quantile 5`" in card


def test_fit_prints_what_it_merged_and_clipped(fitted):
    _, printed = fitted
    assert "40 categories merged (40 rows)" in printed
    assert "zip: 40 categories held by fewer than 5 rows merged into '_RARE_' (40 rows)" in printed
    assert "salary: " in printed and "rows clipped to [" in printed


def test_samples_hold_only_kept_categories(fitted):
    out, _ = fitted
    pipe = LatentDiffusionLMPipeline.from_pretrained(out)
    rows = pipe(num_samples=12, output_type="pandas", generator=torch.Generator().manual_seed(0)).records
    assert set(rows["zip"]) <= {*COMMON_ZIPS, RARE_CATEGORY}
    salary = pipe.schema["salary"]
    assert rows["salary"].between(salary.minimum, salary.maximum).all() and LOWEST < salary.minimum


@pytest.mark.parametrize("argv, flag", [
    (["--min-category-count", "0"], "--min-category-count"),
    (["--range-quantile", "50"], "--range-quantile"),
    (["--range-quantile", "-1"], "--range-quantile"),
])
def test_bad_options_are_refused_before_any_work(tmp_path, table, capsys, argv, flag):
    out = tmp_path / "never"
    assert ldlm(["fit", str(table), "--out", str(out), *FAST, *argv]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert flag in last and "Traceback" not in last
    assert not out.exists()


def test_nested_records_refuse_the_options_in_a_stage_one_run(tmp_path):
    """``scripts/train_vae.py`` runs stage 1 without ``ldlm fit``'s checks: it refuses the same way."""
    path = tmp_path / "nested.jsonl"
    path.write_text("\n".join(json.dumps({"user": {"zip": z}}) for z in RARE_ZIPS[:4]))
    config = VAETrainingConfig(data=str(path), output_dir=str(tmp_path / "out"), preset="tiny", min_category_count=5)
    with pytest.raises(ValueError, match="--min-category-count applies to flat tables"):
        train_vae(config)
    assert not (tmp_path / "out").exists()


def test_stage_two_reads_back_the_generalised_table(table, tmp_path):
    """A stage 2 run on its own (``TrainedVAE.load``) re-reads the data: it must see what stage 1 learned."""
    config = VAETrainingConfig(data=str(table), output_dir=str(tmp_path), preset="tiny", min_category_count=5)
    frame, schema, report = training_table(config, load_training_table(config))
    assert set(frame["zip"]) == {*COMMON_ZIPS, RARE_CATEGORY}
    assert set(schema["zip"].categories) == set(frame["zip"]) and report.changed


def test_off_by_default_with_a_notice_of_rarely_seen_categories(table, tmp_path):
    frame, report = protect_rare_values(TABLE, TableSchema.infer(TABLE))
    assert frame is TABLE and report.protection() is None
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert ldlm(["fit", str(table), "--out", str(tmp_path / "model"), *FAST]) == 0
    (notice,) = [line for line in printed.getvalue().splitlines() if line.startswith("Notice:")]
    assert "40 categories seen in fewer than 5 rows, in zip (40)" in notice and "--min-category-count 5" in notice
    assert RARE_ZIPS[0] in (tmp_path / "model" / "training" / "schema.json").read_text()
    assert "lists every category" in (tmp_path / "model" / "README.md").read_text()


def test_target_keeps_its_categories_when_merging_would_leave_one():
    frame = pd.DataFrame({"y": ["a", "b", "c", "a"]})
    kept, report = protect_rare_values(frame, TableSchema.infer(frame, target="y"), 5)
    (change,) = report.columns
    assert kept is frame and change.kept_target == 3 and change.merged_rows == 0
    assert "would leave a single category" in report.lines()[-1]
    merged, _ = protect_rare_values(frame, TableSchema.infer(frame), 5)  # not the target: merged like any column
    assert set(merged["y"]) == {RARE_CATEGORY}


def test_bounds_are_column_values_and_missing_values_stay_missing():
    frame = pd.DataFrame({
        "n": pd.array([None, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1000], dtype="Int64"),
        "when": [f"2024-03-{day:02d}T08:00:00+01:00" for day in range(1, 12)] + [None],
    })
    clipped, report = protect_rare_values(frame, TableSchema.infer(frame), range_quantile=10)
    assert clipped["n"].isna().sum() == 1 and str(clipped["n"].dtype) == "Int64"
    assert clipped["n"].max() == 10 and clipped["n"].min() == 2
    assert clipped["when"].iloc[0] == "2024-03-02T08:00:00+01:00" and clipped["when"].isna().sum() == 1
    schema = TableSchema.infer(clipped)
    assert (schema["n"].minimum, schema["n"].maximum) == (2, 10) and schema["when"].kind == "datetime"
    assert {change.name: change.clipped_rows for change in report.columns} == {"n": 2, "when": 2}
