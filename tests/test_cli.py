"""The ``ldlm`` command as a newcomer uses it: help, fit then sample on a CSV it has never seen, the demo, errors."""

from __future__ import annotations

import os
import subprocess

import pandas as pd
import pytest
import torch
from diffusers import DiffusionPipeline

import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline with diffusers)
from hf_latent_diffusion_lm import LatentDiffusionLMPipeline
from hf_latent_diffusion_lm.cli import main as ldlm
from hf_latent_diffusion_lm.demo import DEMO_COLUMNS


def test_console_script_help_lists_commands_and_examples(capsys):
    result = subprocess.run(["ldlm", "--help"], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    for command in ("fit", "sample", "complete", "evaluate", "demo"):
        assert command in result.stdout
    assert "examples:" in result.stdout and "ldlm demo" in result.stdout
    with pytest.raises(SystemExit) as exit_:
        ldlm(["fit", "--help"])
    fit_help = capsys.readouterr().out
    assert exit_.value.code == 0 and "--preset" in fit_help and "offline" in fit_help


def test_fit_then_sample_on_an_unseen_csv(tmp_path, capsys):
    rng = torch.Generator().manual_seed(0)
    colours, sizes = ["red", "green", "blue"], ["S", "M", "L", "XL"]
    table = pd.DataFrame({
        "colour": [colours[i] for i in torch.randint(0, 3, (80,), generator=rng)],
        "size": [sizes[i] for i in torch.randint(0, 4, (80,), generator=rng)],
        "price": (torch.rand(80, generator=rng) * 90 + 10).round(decimals=2).tolist(),
        "stock": torch.randint(0, 500, (80,), generator=rng).tolist(),
    })
    table.to_csv(tmp_path / "shop.csv", index=False)
    assert ldlm(["fit", str(tmp_path / "shop.csv"), "--out", str(tmp_path / "model"), "--preset", "tiny",
                 "--max-steps", "10", "--diffusion-max-steps", "50", "--batch-size", "16",
                 "--condition-columns", "colour"]) == 0
    assert type(DiffusionPipeline.from_pretrained(tmp_path / "model")) is LatentDiffusionLMPipeline
    assert "colour" in (tmp_path / "model" / "README.md").read_text()  # the model card names the schema
    training = tmp_path / "model" / "training"  # logs and configs stay with the pipeline; optimizer states go
    assert (training / "vae_log.csv").exists() and (training / "training_config.json").exists()
    assert not (training / "checkpoints").exists() and not (training / "diffusion-checkpoints").exists()
    assert not list(tmp_path.glob("model-stage1*")), "nothing is left beside the pipeline directory"

    assert ldlm(["sample", str(tmp_path / "model"), "-n", "12", "--out", str(tmp_path / "synthetic.csv"),
                 "--condition", "colour=blue"]) == 0
    synthetic = pd.read_csv(tmp_path / "synthetic.csv")
    assert list(synthetic.columns) == list(table.columns) and len(synthetic) == 12
    assert (synthetic["colour"] == "blue").all()
    assert synthetic["size"].isin(sizes).all() and synthetic["price"].between(10, 100).all()
    assert synthetic["stock"].between(table["stock"].min(), table["stock"].max()).all()
    assert "validity 100.0%" in capsys.readouterr().out


def test_demo_writes_rows_report_and_marginals_plot(tmp_path, capsys):
    out = tmp_path / "demo"
    assert ldlm(["demo", "--preset", "tiny", "--max-steps", "4", "--diffusion-max-steps", "20",
                 "--num-samples", "6", "--out", str(out)]) == 0
    synthetic = pd.read_csv(out / "synthetic.csv")
    assert list(synthetic.columns) == DEMO_COLUMNS and len(synthetic) == 6
    assert (out / "report" / "column_distributions.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert '"validity_rate": 1.0' in printed and "shape_error" in printed
    assert "field accuracy" in printed and "records reproduced entirely" in printed


def test_errors_name_the_problem(tmp_path, capsys):
    assert ldlm(["fit", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m"), "--preset", "tiny"]) == 2
    assert "missing.csv" in capsys.readouterr().err
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).to_csv(tmp_path / "t.csv", index=False)
    assert ldlm(["fit", str(tmp_path / "t.csv"), "--out", str(tmp_path / "m"), "--preset", "tiny",
                 "--columns", "a,c"]) == 2
    assert "'c'" in capsys.readouterr().err
