"""Every `ldlm fit` and `ldlm evaluate` flag, on a flat table and on nested JSON records (#22 item 4): it works and
takes effect (its value reaches the saved training configs) or is refused in one line before any work. None is
silently ignored where it cannot apply. (`ldlm sample`/`complete` flags: test_sampling_outputs.py.)"""

from __future__ import annotations

import json
import shlex

import pandas as pd
import pytest
import torch
from test_tool_call_records import tool_call_records
from test_user_errors import error_of

from hf_latent_diffusion_lm.cli import DIFFUSION_FIELDS_SET_BY_FIT, VAE_FIELDS_SET_BY_FIT, build_parser
from hf_latent_diffusion_lm.cli import main as ldlm
from hf_latent_diffusion_lm.data.json_lines import write_json_lines
from hf_latent_diffusion_lm.testing import tiny_decoder, tiny_tokenizer
from hf_latent_diffusion_lm.training import DiffusionTrainingConfig, VAETrainingConfig
from hf_latent_diffusion_lm.training.config_flags import DIFFUSION_FLAGS, VAE_FLAGS, collect
from hf_latent_diffusion_lm.training.diffusion_training import DIFFUSION_CONFIG

FAST = ["--preset", "tiny", "--max-steps", "2", "--diffusion-max-steps", "3", "--batch-size", "8",
        "--field-accuracy-rows", "0"]

# (flags, on a table, on nested records); {table}, {nested}, {schema}, {decoder} are files the fixture writes
FIT_FLAGS = [
    ("--encoder scratch", "refused", "works"),  # tables use field injection, which trains its own encoder
    ("--injection-method field", "works", "refused"),
    ("--injection-method soft_prompt", "works", "works"),
    ("--injection-method memory", "works", "works"),
    ("--injection-method embedding", "works", "works"),
    ("--injection-method soft_prompt --num-soft-tokens 2", "works", "works"),
    ("--num-soft-tokens 2", "refused", "works"),  # field injection puts no positions before the record
    ("--decoder {decoder}", "works", "works"),
    ("--decoder-gguf-file model.gguf", "refused", "refused"),  # a file inside --decoder, which is not given
    ("--field-warmup-steps 3", "works", "refused"),
    ("--field-warmup-batch-size 16", "works", "refused"),
    ("--field-warmup-learning-rate 0.01", "works", "refused"),
    ("--time-budget 20s", "works", "works"),
    ("--record-format compact", "works", "refused"),
    ("--columns size", "works", "refused"),  # nested: no record has a "size" key
    ("--columns question,calls", "refused", "works"),
    ("--target size", "works", "refused"),
    ("--min-category-count 2", "works", "refused"),
    ("--range-quantile 1", "works", "refused"),
    ("--read-options '{{\"skipinitialspace\": true}}'", "works", "refused"),  # braces doubled: str.format
    ("--schema {schema}", "refused", "works"),  # a JSON Schema is for JSON Lines records
    ("--condition-columns size", "works", "refused"),
    ("--condition-columns size --diffusion-condition-bins 3", "works", "refused"),
    ("--diffusion-condition-bins 3", "refused", "refused"),  # nothing to condition on
    ("--privacy-reference", "works", "refused"),  # the dcr guard measures distances between table rows
    ("--privacy-reference --privacy-quantile 10", "works", "refused"),
    ("--privacy-quantile 10", "refused", "refused"),  # no dcr guard to calibrate
    ("--overwrite", "works", "works"),
    # the options every fit takes, together in one fit per kind (each value is still checked in the saved configs)
    ("--decoder-layers 1 --latent-dim 8 --decoder-lora-rank 2 --max-cpu-seconds 100 --max-rows 30 "
     "--max-length 400 --validation-fraction 0.2 --validation-rows 8 --gradient-accumulation-steps 2 "
     "--learning-rate 0.002 --max-grad-norm 0.5 --eval-every 1 --checkpoint-every 1 --checkpoints-total-limit 1 "
     "--max-beta 0.05 --min-beta 0.002 --beta-factor 0.5 --patience 2 --min-delta 0.01 --no-sample-posterior "
     "--mixed-precision no --seed 3 --diffusion-hidden-dim 16 --diffusion-num-layers 2 --diffusion-batch-size 8 "
     "--diffusion-learning-rate 0.002 --diffusion-ema-decay 0.9 --diffusion-eval-every 2 "
     "--diffusion-checkpoint-every 2 --diffusion-checkpoints-total-limit 1 --diffusion-max-seconds 100 "
     "--keep-checkpoints",
     "works", "works"),
    ("--resume", "refused", "refused"),  # nothing to resume in a new folder
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flags")
    rng = torch.Generator().manual_seed(0)
    sizes = ["S", "M", "L", "XL"]
    pd.DataFrame({"size": [sizes[i] for i in torch.randint(0, 4, (40,), generator=rng)],
                  "stock": torch.randint(0, 500, (40,), generator=rng).tolist()}).to_csv(folder / "shop.csv",
                                                                                     index=False)
    write_json_lines(tool_call_records(40), folder / "calls.jsonl")
    (folder / "schema.json").write_text(json.dumps({"type": "object", "properties": {
        "question": {"type": "string"}, "functions": {"type": "array"}, "calls": {"type": "array"}}}))
    tiny_decoder(0).save_pretrained(folder / "decoder")
    tiny_tokenizer().save_pretrained(folder / "decoder")
    return {"table": folder / "shop.csv", "nested": folder / "calls.jsonl", "schema": folder / "schema.json",
            "decoder": folder / "decoder"}


def _given_options(argv: list[str]) -> tuple[dict, dict]:
    """The training-config options ``argv`` sets (field name: parsed value), stage 1's and stage 2's."""
    args = build_parser().parse_args(argv)
    given = {flag.split("=")[0] for flag in argv if flag.startswith("--")}
    vae = {name: value for name, value in collect(args, VAETrainingConfig, VAE_FLAGS, VAE_FIELDS_SET_BY_FIT).items()
           if VAE_FLAGS.flag(name) in given}
    diffusion = {name: value for name, value in collect(args, DiffusionTrainingConfig, DIFFUSION_FLAGS,
                                                   DIFFUSION_FIELDS_SET_BY_FIT).items()
                 if DIFFUSION_FLAGS.flag(name) in given}
    return vae, diffusion


@pytest.mark.parametrize("kind", ["table", "nested"])
@pytest.mark.parametrize("flags, table, nested", FIT_FLAGS)
def test_every_fit_flag_takes_effect_or_is_refused_for_each_record_kind(files, tmp_path, capsys, kind, flags, table,
                                                                        nested):
    out = tmp_path / "model"
    extra = shlex.split(flags.format(**{name: str(path) for name, path in files.items()}))
    argv = ["fit", str(files[kind]), "--out", str(out), *FAST, *extra]
    if (table if kind == "table" else nested) == "refused":
        error_of(capsys, argv)
        assert not out.exists()  # refused before any work
        return
    assert ldlm(argv) == 0, capsys.readouterr().err
    vae, diffusion = _given_options(argv)
    saved_vae = json.loads((out / "training" / "training_config.json").read_text())
    saved_diffusion = json.loads((out / "training" / DIFFUSION_CONFIG).read_text())
    for name in vae:
        assert saved_vae[name] == vae[name], name
    for name in diffusion:
        assert saved_diffusion[name] == diffusion[name], name
    if "--keep-checkpoints" in extra:
        assert (out / "training" / "checkpoints").is_dir()


EVALUATE_FLAGS = [  # (flags, on tables, on nested records); {real}, {schema}: files of the record kind
    ("", "works", "works"),
    ("--test {real} --target size --task classification --holdout {real} --categorical stock --seed 1 --n-jobs 2",
     "works", "refused"),
    ("--test {real}", "works", "refused"),
    ("--target size", "refused", "refused"),  # ML efficiency needs --test to score on
    ("--test {real} --task classification", "refused", "refused"),  # a task needs a --target
    ("--holdout {real}", "works", "refused"),
    ("--categorical stock", "works", "refused"),
    ("--seed 1", "works", "refused"),
    ("--n-jobs 2", "works", "refused"),
    ("--schema {schema}", "works", "works"),
]


@pytest.fixture(scope="module")
def evaluation_files(files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate")
    from hf_latent_diffusion_lm.data import TableSchema

    TableSchema.infer(pd.read_csv(files["table"])).save(folder / "table_schema.json")
    return {"table": {"real": files["table"], "schema": folder / "table_schema.json"},
            "nested": {"real": files["nested"], "schema": files["schema"]}}


@pytest.mark.parametrize("kind", ["table", "nested"])
@pytest.mark.parametrize("flags, table, nested", EVALUATE_FLAGS)
def test_every_evaluate_flag_works_or_is_refused_for_each_record_kind(evaluation_files, tmp_path, capsys, kind, flags,
                                                                      table, nested):
    paths = evaluation_files[kind]
    out = tmp_path / "report"
    extra = shlex.split(flags.format(**{name: str(path) for name, path in paths.items()}))
    argv = ["evaluate", str(paths["real"]), str(paths["real"]), "--out", str(out), *extra]
    if (table if kind == "table" else nested) == "refused":
        error_of(capsys, argv)
        assert not out.exists()
        return
    assert ldlm(argv) == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    if "--target" in extra:
        assert report["target"] == "size" and report["task"] == "classification"
    if "--holdout" in extra:
        assert report["rows"]["holdout"] == 40
