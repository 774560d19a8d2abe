"""A fit's wall-clock budget: durations parse or name the flag, mixed precision resolves, and a fit with a budget
and no step counts ends by the clock with a saved pipeline."""

from __future__ import annotations

import pandas as pd
import pytest

from hf_latent_diffusion_lm.native_bf16 import cpu_has_bf16
from hf_latent_diffusion_lm.training.time_budget import UNLIMITED_STEPS, parse_duration, resolve_mixed_precision


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("45m", 2700), ("1.5h", 5400), ("30", 30), (None, None)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "0m", "-5m", "5 minutes"])
def test_a_bad_duration_names_the_flag(text):
    with pytest.raises(ValueError, match="--time-budget"):
        parse_duration(text)


def test_auto_precision_follows_the_machine_and_explicit_values_stay():
    assert resolve_mixed_precision("no") == "no" and resolve_mixed_precision("bf16") == "bf16"
    assert resolve_mixed_precision("auto") == ("bf16" if cpu_has_bf16() else "no")


def test_a_budget_without_step_counts_ends_the_fit_by_the_clock(tmp_path):
    from hf_latent_diffusion_lm.training import fit_pipeline

    rows = pd.DataFrame({"city": ["oslo", "rome", "lima", "kyiv"] * 10, "age": list(range(20, 60))})
    pipe = fit_pipeline(rows, tmp_path / "m", preset="tiny", time_budget="20s", eval_every=5, field_accuracy_rows=4)
    log = pd.read_csv(tmp_path / "m" / "training" / "vae_log.csv")
    assert 0 < log["step"].max() < UNLIMITED_STEPS
    assert log["val_reconstruction_per_token"].notna().any()  # the last step before the deadline was evaluated
    assert pipe(num_samples=2, output_type="records").records
