"""Field accuracy: how it counts, how it picks the best stage-1 checkpoint, and the levers that raise it (decoder
LoRA, compact records, latent size, β range) as a user sets them through ``fit_pipeline`` and ``ldlm fit``."""

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from peft import PeftModel, get_peft_model_state_dict

from hf_latent_diffusion_lm.cli import main as ldlm
from hf_latent_diffusion_lm.data import TableSchema
from hf_latent_diffusion_lm.pipelines import LatentDiffusionLMPipeline
from hf_latent_diffusion_lm.testing import tiny_decoder
from hf_latent_diffusion_lm.training import BetaDecision, DecreasingBetaSchedule, fit_pipeline
from hf_latent_diffusion_lm.training.field_accuracy import TRAINING_SUMMARY, compare_records

FIXTURE = Path(__file__).parent / "fixtures" / "adult_sample.csv"
COLUMNS = ["age", "workclass", "sex", "income"]
READ_OPTIONS = '{"skipinitialspace": true}'


def test_compare_records_counts_fields_records_kinds_and_relative_error():
    schema = TableSchema.infer(pd.DataFrame({"age": [40, 20], "job": ["a", "b"], "rate": [0.5, 2.0]}))
    sources = [{"age": 40, "job": "a", "rate": 0.5}, {"age": 20, "job": "b", "rate": 2.0},
               {"age": 30, "job": "b", "rate": 1.0}]
    decoded = [{"age": 40, "job": "a", "rate": 0.5}, {"age": 30, "job": "b", "rate": 2.0}, None]
    result = compare_records(schema, sources, decoded)
    assert result.field_accuracy == pytest.approx(5 / 9)
    assert result.record_accuracy == pytest.approx(1 / 3)
    assert result.column_accuracy == pytest.approx({"age": 1 / 3, "job": 2 / 3, "rate": 2 / 3})
    assert result.kind_accuracy == pytest.approx({"numerical": 3 / 6, "categorical": 2 / 3})
    # |30 - 20| / 20 for the second row; the unparsed third row has no decoded value to measure.
    assert result.numeric_relative_error == pytest.approx({"age": 0.25, "rate": 0.0})
    assert "55.6%" in result.summary() and "33.3%" in result.summary()


def test_best_checkpoint_is_the_most_accurate_with_lower_loss_as_tie_break():
    schedule = DecreasingBetaSchedule(patience=2)
    assert schedule.step(3.0, 0.50) is BetaDecision.IMPROVED
    assert schedule.step(2.0, 0.40) is BetaDecision.WAIT  # lower loss, but fewer fields come back
    assert schedule.step(2.5, 0.50) is BetaDecision.IMPROVED  # same accuracy, lower loss
    assert schedule.step(4.0, 0.60) is BetaDecision.IMPROVED  # more accurate, whatever the loss
    assert (schedule.best, schedule.best_field_accuracy) == (4.0, 0.60)
    resumed = DecreasingBetaSchedule(patience=2)
    resumed.load_state_dict(schedule.state_dict())
    assert resumed.step(3.0, 0.60) is BetaDecision.IMPROVED and schedule.step(3.0, 0.60) is BetaDecision.IMPROVED


def evaluation_rows(stage1: Path) -> list[dict]:
    with open(stage1 / "vae_log.csv") as log:
        return [row for row in csv.DictReader(log) if row["decision"]]


@pytest.fixture(scope="module")
def lora_compact_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "model"
    pipe = fit_pipeline(FIXTURE, out, preset="tiny", read_options=READ_OPTIONS, columns=COLUMNS, max_rows=80,
                        max_steps=6, eval_every=2, batch_size=8, learning_rate=5e-3, decoder_lora_rank=2,
                        record_format="compact", field_accuracy_rows=8, diffusion_steps=5)
    return out, pipe


def test_field_accuracy_is_logged_and_the_summary_is_the_best_evaluation(lora_compact_run):
    out, _ = lora_compact_run
    rows = evaluation_rows(out / "training")
    assert [int(row["step"]) for row in rows] == [2, 4, 6]
    for row in rows:
        assert 0 <= float(row["record_accuracy"]) <= float(row["field_accuracy"]) <= 1
    best = max(rows, key=lambda r: (float(r["field_accuracy"]), -float(r["val_reconstruction_per_token"])))
    summary = json.loads((out / TRAINING_SUMMARY).read_text())
    assert summary["step"] == int(best["step"]) and summary["field_accuracy"] == float(best["field_accuracy"])
    assert summary["rows"] == 8 and set(summary["column_accuracy"]) == set(COLUMNS)
    assert "reconstruction field accuracy" in (out / "README.md").read_text()


def test_lora_adapter_trains_base_stays_frozen_and_travels_with_the_pipeline(lora_compact_run):
    out, pipe = lora_compact_run
    assert isinstance(pipe.decoder, PeftModel)
    adapter = get_peft_model_state_dict(pipe.decoder)
    assert any("lora_B" in name and value.abs().sum() > 0 for name, value in adapter.items()), "adapter untrained"
    assert not list((out / "decoder").glob("*.safetensors")), "the base decoder is referenced, not stored"
    assert (out / "decoder" / "adapter" / "adapter_model.safetensors").exists()
    assert pipe.decoder_reference.matches(tiny_decoder(0)), "the base decoder was not changed"

    loaded = LatentDiffusionLMPipeline.from_pretrained(out)
    assert isinstance(loaded.decoder, PeftModel) and loaded.schema.record_format == "compact"
    reloaded = get_peft_model_state_dict(loaded.decoder)
    assert all(torch.equal(adapter[name], reloaded[name]) for name in adapter)
    records = pipe.schema.records(pd.read_csv(FIXTURE, skipinitialspace=True)[COLUMNS].head(6))
    latents = pipe.encode(records)
    assert loaded.decode(loaded.encode(records), constrained=True) == pipe.decode(latents, constrained=True)
    for text in loaded(num_samples=4, generator=torch.Generator().manual_seed(0)).texts:
        assert not text.startswith("{age: ") and loaded.schema.parse(text)


def test_ldlm_fit_sets_the_levers_and_prints_field_accuracy(tmp_path, capsys):
    out = tmp_path / "model"
    assert ldlm(["fit", str(FIXTURE), "--out", str(out), "--preset", "tiny", "--columns", ",".join(COLUMNS),
                 "--read-options", READ_OPTIONS, "--max-rows", "60", "--max-steps", "3", "--diffusion-max-steps", "5",
                 "--latent-dim", "8", "--max-beta", "0.05", "--min-beta", "0.01",
                 "--field-accuracy-rows", "4"]) == 0
    printed = capsys.readouterr().out
    assert "field accuracy" in printed and "records reproduced entirely" in printed
    vae_config = json.loads((out / "vae" / "config.json").read_text())
    assert vae_config["latent_dim"] == 8
    training = json.loads((out / "training" / "training_config.json").read_text())
    assert (training["max_beta"], training["min_beta"], training["record_format"]) == (0.05, 0.01, "keyed")
    assert not (out / "decoder" / "adapter").exists() and not (out / "training" / "adapter").exists()
