"""A newcomer's mistakes with ``ldlm``: each gets one clear line and exit status 2 before any long work, and no
command deletes a file it did not write."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from hf_latent_diffusion_lm.cli import main as ldlm
from hf_latent_diffusion_lm.data import TableSchema
from hf_latent_diffusion_lm.sampling.table_sampling import parse_conditions
from hf_latent_diffusion_lm.pipelines.latent_text_generation_task import LatentTextGenerationPipeline
from hf_latent_diffusion_lm.pipelines.pipeline_latent_diffusion_lm import LatentDiffusionLMPipelineOutput
from hf_latent_diffusion_lm.pretrained import PRESETS, resolve_preset
from hf_latent_diffusion_lm.testing import tiny_pipeline
from hf_latent_diffusion_lm.training import DiffusionTrainingConfig, VAETrainingConfig, train_diffusion, train_vae

TABLE = pd.DataFrame({"code": [1, 2, 3, 1, 2, 3, 1, 2], "age": [30, 41, 25, 33, 52, 47, 38, 29],
                      "city": ["oslo", "rome", "lima", "oslo", "rome", "lima", "kyiv", "oslo"],
                      "id": [2**63 - 1 - i for i in range(8)],
                      "seen": [f"2024-0{m}-0{m}T00:00:00+02:00" for m in range(1, 9)]})
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
FAST = ["--preset", "tiny", "--max-steps", "3", "--diffusion-max-steps", "5", "--batch-size", "4"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "t.csv"
    TABLE.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "model"
    assert ldlm(["fit", str(table), "--out", str(out), *FAST]) == 0
    return out


def error_of(capsys, argv) -> str:
    """Run ``ldlm argv``; it must exit 2 with one error line last on stderr (after progress bars, if any), no
    traceback. Returns that line."""
    assert ldlm(argv) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("ldlm ") and ": error: " in last and "Traceback" not in err, err
    return last


def test_fit_refuses_a_folder_of_user_files_and_overwrite_keeps_them(tmp_path, table, capsys):
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "t.csv").write_bytes(table.read_bytes())
    (folder / "notes.txt").write_text("mine")
    assert "--overwrite" in error_of(capsys, ["fit", str(folder / "t.csv"), "--out", str(folder), *FAST])
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "t.csv"]
    assert ldlm(["fit", str(folder / "t.csv"), "--out", str(folder), "--overwrite", *FAST]) == 0
    assert (folder / "t.csv").read_bytes() == table.read_bytes() and (folder / "notes.txt").read_text() == "mine"
    assert (folder / "model_index.json").is_file()
    assert ldlm(["fit", str(folder / "t.csv"), "--out", str(folder), *FAST]) == 0  # now a pipeline: refit allowed
    assert (folder / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("argv, named", [
    (["--condition-columns", "typo"], "'typo'"),
    (["--read-options", '{"nosuch": 1}'], "nosuch"),
    (["--read-options", "{bad json"], "--read-options"),
    (["--columns", "age,nope"], "'nope'"),
    (["--target", "incme"], "'incme'"),
])
def test_fit_options_fail_before_training(tmp_path, table, capsys, argv, named):
    out = tmp_path / "never"
    assert named in error_of(capsys, ["fit", str(table), "--out", str(out), "--preset", "tiny", *argv])
    assert not out.exists() and not out.with_name("never-stage1").exists()  # nothing was trained


@pytest.mark.parametrize("flag, value", [("--diffusion-max-steps", "0"), ("--max-steps", "0"),
                                         ("--learning-rate", "nan"), ("--max-length", "-1")])
def test_fit_numbers_are_checked_before_any_work(tmp_path, table, capsys, flag, value):
    try:  # by the parser or by the training configs: either way one line naming the flag, exit 2, nothing trained
        code = ldlm(["fit", str(table), "--out", str(tmp_path / "never"), "--preset", "tiny", flag, value])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2 and flag in capsys.readouterr().err and not (tmp_path / "never").exists()


def test_training_configs_refuse_bad_values_when_built(tmp_path, table):
    with pytest.raises(ValueError, match="--diffusion-max-steps"):
        DiffusionTrainingConfig(vae_dir=str(tmp_path), output_dir=str(tmp_path), max_steps=0)
    with pytest.raises(ValueError, match="batch_size"):
        VAETrainingConfig(data=str(table), output_dir=str(tmp_path), preset="tiny", batch_size=0)
    assert VAETrainingConfig(data=str(table), output_dir=str(tmp_path), preset="tiny").max_steps == \
        resolve_preset("tiny").vae_steps


def test_training_config_is_filled_from_its_preset_once_where_it_is_built(tmp_path, table, monkeypatch):
    config = VAETrainingConfig(data=str(table), output_dir=str(tmp_path), preset="tiny", latent_dim=12, max_steps=2,
                               batch_size=4, field_accuracy_rows=0)
    tiny = resolve_preset("tiny")
    assert (config.latent_dim, config.num_soft_tokens, config.field_warmup_steps) == \
        (12, tiny.num_soft_tokens, tiny.field_warmup_steps)
    assert config.models == tiny and "models" not in dataclasses.asdict(config)  # not an option, not saved

    def resolved_again():
        raise AssertionError("the preset was resolved again after the config was built")

    monkeypatch.setitem(PRESETS, "tiny", resolved_again)  # any resolve_preset("tiny") from here on fails
    trained = train_vae(config)
    assert trained.components.vae.config.latent_dim == 12
    saved = json.loads((tmp_path / "training_config.json").read_text())
    assert saved["latent_dim"] == 12 and saved["num_soft_tokens"] == tiny.num_soft_tokens
    stage2 = DiffusionTrainingConfig(vae_dir=str(tmp_path), output_dir=str(tmp_path / "pipeline"), max_steps=2)
    train_diffusion(stage2, trained)  # in memory, as `ldlm fit` runs it: stage 1's resolved preset fills its options
    assert stage2.hidden_dim == tiny.denoiser_hidden_dim


def test_missing_local_decoder_is_not_called_a_hub_problem(tmp_path, table, capsys):
    message = error_of(capsys, ["fit", str(table), "--out", str(tmp_path / "m"), *FAST, "--decoder",
                                str(tmp_path / "no-such-model")])
    assert "no such local directory" in message and "Hub" not in message


def test_one_row_table_is_refused_in_our_words(tmp_path, capsys):
    TABLE.head(1).to_csv(tmp_path / "one.csv", index=False)
    assert "at least 2 rows" in error_of(capsys, ["fit", str(tmp_path / "one.csv"), "--out", str(tmp_path / "m"),
                                                  *FAST])


def test_rows_longer_than_max_length_suggest_the_value_that_fits(tmp_path, table, capsys):
    message = error_of(capsys, ["fit", str(table), "--out", str(tmp_path / "m"), *FAST, "--max-length", "8"])
    schema = TableSchema.infer(TABLE)
    longest = max(len(schema.to_text(row).encode()) + 2 for row in schema.records(TABLE))
    assert f"--max-length {longest}" in message  # the tiny tokenizer has one token per byte
    assert ldlm(["fit", str(table), "--out", str(tmp_path / "m"), *FAST, "--max-length", str(longest)]) == 0


@pytest.mark.parametrize("argv, named", [
    (["-n", "0"], "--num-samples"),
    (["--guidance-scale", "nan"], "--guidance-scale"),
])
def test_sample_numbers_are_checked_by_the_parser(model, tmp_path, capsys, argv, named):
    with pytest.raises(SystemExit) as exit_:
        ldlm(["sample", str(model), "--out", str(tmp_path / "s.csv"), "-n", "3", *argv])
    assert exit_.value.code == 2 and named in capsys.readouterr().err


@pytest.mark.parametrize("argv, named", [
    (["--out", "x.xlsx"], "'.xlsx'"),
    (["--condition", "age=abc"], "column 'age' needs a number"),
    (["--condition", "age=30", "--condition", "age=31"], "given twice"),
    (["--condition", "nope=1"], "'nope'"),
])
def test_sample_mistakes_name_the_option(model, tmp_path, capsys, argv, named):
    argv = ["--out", str(tmp_path / "s.csv"), *argv] if "--out" not in argv else argv
    assert named in error_of(capsys, ["sample", str(model), "-n", "3", *argv])
    assert not (tmp_path / "s.csv").exists()


def test_missing_or_damaged_model_directory(model, tmp_path, capsys):
    message = error_of(capsys, ["sample", str(tmp_path / "nope"), "-n", "2", "--out", str(tmp_path / "s.csv")])
    assert "No pipeline directory" in message and "Hub" not in message
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for source in model.rglob("*"):
        target = damaged / source.relative_to(model)
        if source.is_dir():
            target.mkdir(exist_ok=True)
        else:
            data = source.read_bytes()
            target.write_bytes(data[: len(data) // 2] if source.suffix == ".safetensors" else data)
    assert "Cannot load the pipeline" in error_of(capsys, ["sample", str(damaged), "-n", "2", "--out",
                                                           str(tmp_path / "s.csv")])
    with pytest.raises(Exception):  # --debug: the traceback, for a bug report
        ldlm(["--debug", "sample", str(damaged), "-n", "2", "--out", str(tmp_path / "s.csv")])


def test_an_edited_max_new_tokens_is_refused_when_the_pipeline_loads(tmp_path, capsys):
    tiny_pipeline().save_pretrained(tmp_path / "model")
    index = tmp_path / "model" / "model_index.json"
    index.write_text(json.dumps({**json.loads(index.read_text()), "max_new_tokens": -1}))
    message = error_of(capsys, ["sample", str(tmp_path / "model"), "-n", "2", "--out", str(tmp_path / "s.csv")])
    assert "max_new_tokens must be a positive integer, got -1" in message


@pytest.mark.parametrize("script, argv", [
    ("train_vae.py", ["--data", "nope.csv", "--output_dir", "run"]),
    ("train_diffusion.py", ["--vae_dir", "nope", "--output_dir", "model"]),
    ("generate.py", ["nope", "-n", "2", "--out", "s.csv"]),
])
def test_scripts_report_a_missing_file_in_one_line_under_their_own_name(tmp_path, script, argv):
    result = subprocess.run([sys.executable, str(SCRIPTS / script), *argv], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert last.startswith(f"{script}") and ": error: " in last and "ldlm" not in last.split(":")[0], last
    assert "nope" in last, last


def test_complete_fills_a_one_row_partial_table(model, tmp_path):
    (tmp_path / "partial.csv").write_text("code,age,city\n1,,oslo\n")
    assert ldlm(["complete", str(model), str(tmp_path / "partial.csv"), "--out", str(tmp_path / "f.csv")]) == 0
    filled = pd.read_csv(tmp_path / "f.csv")
    assert filled.loc[0, "code"] == 1 and filled.loc[0, "city"] == "oslo" and 25 <= filled.loc[0, "age"] <= 52


def test_complete_names_the_row_that_breaks_the_schema(model, tmp_path, capsys):
    (tmp_path / "partial.csv").write_text("code,age,city\n1,,oslo\n2,,paris\n")
    message = error_of(capsys, ["complete", str(model), str(tmp_path / "partial.csv"), "--out",
                                str(tmp_path / "f.csv")])
    assert "Row 1" in message and "'paris'" in message and not (tmp_path / "f.csv").exists()


def test_sampled_huge_integers_and_zoned_timestamps_are_exact(model, tmp_path):
    assert ldlm(["sample", str(model), "-n", "6", "--out", str(tmp_path / "s.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(2**63 - 8 <= row["id"] <= 2**63 - 1 for row in rows)  # no wrap to -2**63
    seen = TableSchema.infer(pd.DataFrame({"seen": [row["seen"] for row in rows]}))["seen"]
    assert seen.timezone == "+02:00"  # every sampled timestamp kept the zone


@pytest.mark.parametrize("valid", [2, 0])
def test_sample_that_writes_fewer_rows_than_asked_fails(model, tmp_path, capsys, monkeypatch, valid):
    import hf_latent_diffusion_lm.sampling.table_sampling as generation

    def fewer(pipe, num_samples, **kwargs):
        frame = TABLE.head(valid).copy()
        frame.attrs["validity"] = valid / num_samples
        return frame

    monkeypatch.setattr(generation, "generate_records", fewer)
    assert ldlm(["sample", str(model), "-n", "4", "--out", str(tmp_path / "s.csv")]) == 1
    assert f"only {valid} of the 4 rows" in capsys.readouterr().err
    assert (tmp_path / "s.csv").exists() == (valid > 0)


def test_schema_file_with_an_extra_key_and_evaluate_with_one_row(tmp_path, capsys):
    TABLE.to_csv(tmp_path / "real.csv", index=False)
    entry = TableSchema.infer(TABLE).to_dict()
    entry["columns"][0]["colour"] = "red"
    (tmp_path / "schema.json").write_text(json.dumps(entry))
    TABLE.head(1).to_csv(tmp_path / "one.csv", index=False)
    message = error_of(capsys, ["evaluate", str(tmp_path / "real.csv"), str(tmp_path / "one.csv"), "--schema",
                                str(tmp_path / "schema.json"), "--out", str(tmp_path / "ev")])
    assert "schema.json" in message and "colour" in message and "'code'" in message
    assert ldlm(["evaluate", str(tmp_path / "real.csv"), str(tmp_path / "one.csv"), "--out", str(tmp_path / "ev")]) == 0
    assert "C2ST not computed" in (tmp_path / "ev" / "report.md").read_text() + json.dumps(
        json.loads((tmp_path / "ev" / "report.json").read_text())["notes"])


def test_evaluate_counts_wrong_typed_synthetic_values_as_misses(tmp_path):
    from hf_latent_diffusion_lm.evaluation import evaluate

    real = TABLE[["code", "age", "city"]]
    synthetic = real.assign(age=[f"{a}y" for a in real["age"]])
    report = evaluate(real, synthetic, progress=False)
    assert report.column_shape_scores["age"] == 0.0
    assert any("'age'" in note and "'30y'" in note for note in report.notes)
    assert report.shape_error >= 100 / 3  # one column of three scores nothing


def test_conditions_on_integer_coded_categories_and_huge_integers():
    schema = TableSchema.infer(TABLE.assign(big=[2**63 - 1 - i for i in range(8)]), categorical=["code"])
    assert parse_conditions(["code=2", f"big={2**63 - 1}"], schema) == {"code": 2, "big": 2**63 - 1}
    with pytest.raises(ValueError, match="'9' is not one of its 3 categories"):
        parse_conditions(["code=9"], schema)


def test_transformers_task_pairs_each_record_with_its_own_text():
    schema = TableSchema.infer(TABLE)
    rows = schema.records(TABLE)
    texts = [schema.to_text(rows[0]), "{not a record", schema.to_text(rows[1])]
    task = LatentTextGenerationPipeline(tiny_pipeline(schema=schema))
    output = LatentDiffusionLMPipelineOutput(texts=texts, latents=torch.zeros(3, 8), records=[rows[0], rows[1]])
    result = task.postprocess(output)
    assert result[0]["record"] == rows[0] and "record" not in result[1] and result[2]["record"] == rows[1]


def test_tiny_preset_is_a_smoke_test_by_default():
    tiny, small = resolve_preset("tiny"), resolve_preset("small")
    assert tiny.vae_steps <= 100 and tiny.diffusion_steps <= 200
    assert small.vae_steps >= 1000 and small.diffusion_steps >= 1000
