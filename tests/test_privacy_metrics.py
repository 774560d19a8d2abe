"""The privacy section tells a copier from a generator of fresh rows on the standard protocol (equal-size training
and holdout halves of real data): DCR share and membership-inference AUC near 1.0 for copies, near 0.5 otherwise."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

from hf_latent_diffusion_lm.evaluation import evaluate
from hf_latent_diffusion_lm.evaluation.command import add_evaluate_arguments, run_evaluate

FIXTURE = Path(__file__).parent / "fixtures" / "adult_sample.csv"


@pytest.fixture(scope="module")
def thirds():
    """Three disjoint random thirds of the Adult sample: training half, holdout half, unseen rows."""
    frame = pd.read_csv(FIXTURE, skipinitialspace=True).sample(frac=1.0, random_state=0).reset_index(drop=True)
    return frame.iloc[:100], frame.iloc[100:200].reset_index(drop=True), frame.iloc[200:].reset_index(drop=True)


def test_a_copier_is_caught_and_unseen_rows_look_private(thirds):
    train, holdout, unseen = thirds
    copier = evaluate(train, train.sample(frac=1.0, random_state=1), holdout=holdout, progress=False).privacy
    fresh = evaluate(train, unseen, holdout=holdout, progress=False).privacy
    assert copier.dcr_share > 0.95 and copier.distance_attack_auc > 0.95
    assert abs(fresh.dcr_share - 0.5) < 0.15 and abs(fresh.distance_attack_auc - 0.5) < 0.15
    assert copier.reference_rows == fresh.reference_rows == 100 and fresh.holdout == "holdout"


def test_half_copies_score_between_the_two(thirds):
    train, holdout, unseen = thirds
    mixed = pd.concat([train.iloc[:50], unseen.iloc[:50]], ignore_index=True)
    privacy = evaluate(train, mixed, holdout=holdout, progress=False).privacy
    assert 0.6 < privacy.dcr_share < 0.9 and 0.6 < privacy.distance_attack_auc < 0.9


def test_evaluate_command_writes_the_privacy_section(thirds, tmp_path):
    train, holdout, _ = thirds
    paths = {}
    for name, frame in (("real", train), ("synthetic", train), ("holdout", holdout)):
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    args = add_evaluate_arguments(argparse.ArgumentParser()).parse_args(
        [str(paths["real"]), str(paths["synthetic"]), "--holdout", str(paths["holdout"]), "--out",
         str(tmp_path / "report")])
    assert run_evaluate(args) == 0
    privacy = json.loads((tmp_path / "report" / "report.json").read_text())["privacy"]
    assert privacy["dcr_share"] > 0.95 and privacy["distance_attack_auc"] > 0.95 and privacy["holdout"] == "holdout"
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "## Privacy" in markdown and "membership" in markdown


def test_privacy_halves_are_disjoint_equal_and_seeded():
    from hf_latent_diffusion_lm.benchmark_data import privacy_halves

    frame = pd.DataFrame({"id": range(301)})
    train, holdout = privacy_halves(frame)
    assert len(train) == len(holdout) == 150
    assert not set(train["id"]) & set(holdout["id"])
    assert privacy_halves(frame)[0].equals(train) and not privacy_halves(frame, seed=1)[0].equals(train)
