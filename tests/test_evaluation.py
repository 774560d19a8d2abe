"""The evaluation metrics rank synthetic tables the way a user relies on: the real data scores near-perfect, broken
data scores clearly worse, copies are caught, and the report folder is written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hf_latent_diffusion_lm.cli import main as ldlm
from hf_latent_diffusion_lm.data.table_schema import TableSchema
from hf_latent_diffusion_lm.evaluation import evaluate, write_report

COLOURS = ["red", "green", "blue"]


def make_table(rows: int, seed: int) -> pd.DataFrame:
    """Columns that depend on each other, so that broken dependencies are visible to trend, C2ST and ML efficiency."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    colour = np.where(x > 0.5, "red", np.where(x < -0.5, "blue", "green"))
    colour = np.where(rng.random(rows) < 0.1, rng.choice(COLOURS, rows), colour)
    y = 2.0 * x + rng.normal(scale=0.3, size=rows)
    count = rng.integers(0, 5, size=rows) + (x > 0)
    label = np.where(x + 0.5 * (colour == "red") + rng.normal(scale=0.5, size=rows) > 0, "yes", "no")
    return pd.DataFrame({"x": x, "y": y, "count": count, "colour": colour, "label": label})


def shuffled_columns(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every column permuted on its own: perfect marginals, no dependencies left."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({name: frame[name].to_numpy()[rng.permutation(len(frame))] for name in frame})


def noise_table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.uniform(-5, 5, rows), "y": rng.uniform(-10, 10, rows),
                         "count": rng.integers(0, 50, rows), "colour": rng.choice(COLOURS, rows),
                         "label": rng.choice(["yes", "no"], rows)})


@pytest.fixture(scope="module")
def train():
    return make_table(400, seed=0)


@pytest.fixture(scope="module")
def test_rows():
    return make_table(300, seed=1)


@pytest.fixture(scope="module")
def reports(train, test_rows):
    """Reports of the real rows against themselves, of column-shuffled rows and of noise, sharing the real MLE."""
    real = evaluate(train, train, test_rows, target="label", progress=False)
    shuffled = evaluate(train, shuffled_columns(train, 2), test_rows, target="label", real_mle=real.mle_real,
                        progress=False)
    noise = evaluate(train, noise_table(400, 3), test_rows, target="label", real_mle=real.mle_real, progress=False)
    return {"real": real, "shuffled": shuffled, "noise": noise}


def test_real_data_scores_near_perfect_fidelity(reports):
    real = reports["real"]
    assert real.shape_error < 0.5 and real.trend_error < 0.5
    assert real.alpha_precision > 0.95 and real.beta_recall > 0.95
    assert real.c2st_score > 0.95 and real.c2st_xgboost_auc < 0.6


def test_broken_dependencies_and_noise_score_clearly_worse(reports):
    shuffled, noise = reports["shuffled"], reports["noise"]
    # Shuffling keeps every column's distribution but destroys the pairs.
    assert shuffled.shape_error < 1.0
    assert shuffled.trend_error > reports["real"].trend_error + 10
    assert shuffled.c2st_xgboost_auc > 0.8
    assert noise.shape_error > 20 and noise.trend_error > 10
    assert noise.alpha_precision < reports["real"].alpha_precision - 0.2
    assert noise.c2st_xgboost_auc > 0.9


def test_ml_efficiency_of_real_rows_beats_noise(reports):
    real, shuffled, noise = reports["real"], reports["shuffled"], reports["noise"]
    assert real.task == "classification" and real.mle_synthetic.metric == "roc_auc"
    assert real.mle_synthetic.score > 0.8
    assert real.mle_synthetic.score == pytest.approx(real.mle_real.score)
    assert noise.mle_synthetic.score < real.mle_real.score - 0.2
    assert shuffled.mle_synthetic.score < real.mle_real.score - 0.2
    assert real.mle_synthetic.parameters["n_estimators"] >= 1


def test_regression_rmse_of_real_rows_beats_noise(train, test_rows):
    real = evaluate(train, train, test_rows, target="y", progress=False)
    noise = evaluate(train, noise_table(400, 4), test_rows, target="y", real_mle=real.mle_real, progress=False)
    assert real.task == "regression" and real.mle_synthetic.metric == "rmse"
    assert real.mle_synthetic.score < 0.5 < noise.mle_synthetic.score


def test_dcr_is_near_one_for_copies_and_near_half_for_unseen_rows(train):
    holdout = make_table(400, seed=5)
    copies = evaluate(train, train.sample(frac=1.0, random_state=0), holdout=holdout, progress=False)
    fresh = evaluate(train, make_table(400, seed=6), holdout=holdout, progress=False)
    assert copies.privacy.dcr_share > 0.97
    assert 0.4 < fresh.privacy.dcr_share < 0.6
    assert copies.privacy.reference_rows == 400


def test_exact_copies_and_duplicates_are_counted(train):
    fresh = make_table(90, seed=7)
    copied = train.iloc[:10].copy()
    copied["count"] = copied["count"].astype(float)  # a generator writing 3.0 for 3 still copies the row
    synthetic = pd.concat([copied, fresh, fresh.iloc[:5]], ignore_index=True)
    report = evaluate(train, synthetic, progress=False)
    assert report.exact_copy_rate == pytest.approx(10 / 105)
    assert report.duplicate_rate == pytest.approx(5 / 105)


def test_validity_counts_rows_the_schema_rejects(train):
    schema = TableSchema.infer(train)
    synthetic = train.iloc[:20].copy()
    synthetic.loc[3, "colour"] = "purple"
    report = evaluate(train, synthetic, validate=schema.validate, progress=False)
    assert report.validity_rate == pytest.approx(19 / 20)
    assert report.invalid_examples[0]["row"] == 3
    assert "colour" in report.invalid_examples[0]["problems"][0]


def test_metrics_that_lack_inputs_are_none_with_a_note(train):
    report = evaluate(train, train, progress=False)
    assert report.mle_synthetic is None and report.privacy is None and report.validity_rate is None
    assert any("ML efficiency" in note for note in report.notes)


def test_bad_inputs_name_the_problem(train, test_rows):
    with pytest.raises(ValueError, match="'income'"):
        evaluate(train, train, test_rows, target="income", progress=False)
    with pytest.raises(ValueError, match=r"missing \['colour'\]"):
        evaluate(train, train.drop(columns="colour"), progress=False)


def test_report_files_are_written_and_json_parses(tmp_path, reports, train):
    out = write_report(reports["shuffled"], tmp_path / "report", train, shuffled_columns(train, 2))
    data = json.loads((out / "report.json").read_text())
    assert data["trend_error"] == pytest.approx(reports["shuffled"].trend_error)
    assert data["mle_synthetic"]["metric"] == "roc_auc"
    assert "Trend error" in (out / "report.md").read_text()
    for name in ("column_distributions.png", "trend_differences.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _run_cli(argv):
    return ldlm(["evaluate", *argv])


def test_evaluate_command_writes_a_report(tmp_path, train, test_rows, capsys):
    train.to_csv(tmp_path / "real.csv", index=False)
    shuffled_columns(train, 2).to_parquet(tmp_path / "synthetic.parquet")
    test_rows.to_json(tmp_path / "test.jsonl", orient="records", lines=True)
    code = _run_cli([str(tmp_path / "real.csv"), str(tmp_path / "synthetic.parquet"), "--test",
                     str(tmp_path / "test.jsonl"), "--target", "label", "--out", str(tmp_path / "out")])
    assert code == 0
    assert json.loads((tmp_path / "out" / "report.json").read_text())["target"] == "label"
    assert "Shape error" in capsys.readouterr().out


def test_evaluate_command_rejects_an_unknown_target(tmp_path, train, capsys):
    train.to_csv(tmp_path / "real.csv", index=False)
    code = _run_cli([str(tmp_path / "real.csv"), str(tmp_path / "real.csv"), "--test", str(tmp_path / "real.csv"),
                     "--target", "price", "--out", str(tmp_path / "out")])
    assert code == 2
    assert "'price'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
