"""What `ldlm sample` writes (issue #23, sampling side; #24 item 4): the privacy guard and the output formats of
nested-record models, short shards that fail and are redone, shard folders tied to one model, nothing written by a
refused command, and a progress bar that moves when sampling into one file."""

import functools
import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import fit_shop_model
import torch
from diffusers import DiffusionPipeline
from tqdm.auto import tqdm

import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline with diffusers)
from hf_latent_diffusion_lm.sampling import record_sampling, table_sampling
from hf_latent_diffusion_lm.cli import main as ldlm
from hf_latent_diffusion_lm.data.json_lines import read_json_records
from hf_latent_diffusion_lm.privacy import PrivacyGuard
from hf_latent_diffusion_lm.sampling.sharded_sampling import SETTINGS_FILE
from hf_latent_diffusion_lm.training import fit_pipeline
from test_tool_call_records import tool_call_records
from test_user_errors import error_of

TRAINING_RECORDS = tool_call_records(48)


@pytest.fixture(scope="module")
def table_model(tmp_path_factory):
    return fit_shop_model(tmp_path_factory.mktemp("table"))


@pytest.fixture(scope="module")
def nested_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("nested") / "model"
    fit_pipeline(TRAINING_RECORDS, out, preset="tiny", max_steps=4, batch_size=16, diffusion_steps=20,
                 diffusion_options={"hidden_dim": 32, "batch_size": 16})
    return out


def copies(records: list[dict]) -> list[dict]:
    return [record for record in records if record in TRAINING_RECORDS]


def test_nested_reject_copies_leaves_out_training_records(nested_model, tmp_path, capsys):
    plain, guarded = tmp_path / "plain.jsonl", tmp_path / "guarded.jsonl"
    assert ldlm(["sample", str(nested_model), "-n", "16", "--out", str(plain)]) == 0
    assert copies(read_json_records(plain))  # the tiny model writes training records...
    capsys.readouterr()
    assert ldlm(["sample", str(nested_model), "-n", "16", "--out", str(guarded), "--privacy", "reject_copies"]) == 0
    assert len(read_json_records(guarded)) == 16 and not copies(read_json_records(guarded))  # ...which are re-drawn
    assert re.search(r"Privacy guard reject_copies: re-drew [1-9]", capsys.readouterr().out)


def nothing_sampled(*args, **kwargs):
    pytest.fail("a refused command sampled")


@pytest.mark.parametrize("argv, named", [
    (["--out", "x.jsonl", "--privacy", "dcr"], "--privacy dcr"),
    (["--out", "x.parquet"], ".jsonl or .ndjson"),
    (["--out", "x.csv"], ".jsonl or .ndjson"),
    (["--out", "x.json"], ".jsonl or .ndjson"),
    (["--out", "shards/", "--shard-size", "5"], "is a folder"),
    (["--out", "existing"], "is a folder"),
])
def test_nested_models_refuse_what_they_cannot_write_before_sampling(nested_model, tmp_path, capsys, monkeypatch,
                                                                      argv, named):
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "mine.txt").write_text("kept")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(record_sampling, "sample_records", nothing_sampled)
    assert named in error_of(capsys, ["sample", str(nested_model), "-n", "5", *argv])
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == ["existing",
                                                                                        "existing/mine.txt"]


def test_nested_sample_writing_no_record_fails(nested_model, tmp_path, capsys):
    out = tmp_path / "x.jsonl"
    assert ldlm(["sample", str(nested_model), "-n", "4", "--out", str(out), "--unconstrained"]) == 1
    assert "only 0 of the 4 records asked for were written; 4 are missing" in capsys.readouterr().err
    assert not out.exists()


def reject_first(self, schema, records, mode):
    """A guard that rejects the first record of every check: one row per pipeline call is dropped."""
    return np.arange(len(records)) == 0


def shard_rows(folder) -> list[int]:
    return [len(pd.read_parquet(path)) for path in sorted(folder.glob("shard-*.parquet"))]


def test_short_shards_fail_and_are_sampled_again(table_model, tmp_path, capsys, monkeypatch):
    out = tmp_path / "d"
    argv = ["sample", str(table_model), "-n", "20", "--shard-size", "10", "--out", f"{out}/", "--privacy",
            "reject_copies"]
    with monkeypatch.context() as patch:
        patch.setattr(PrivacyGuard, "rejected", lambda self, schema, records, mode: np.ones(len(records), bool))
        assert ldlm(argv) == 1
        assert "only 0 of the 20 rows asked for were written" in capsys.readouterr().err
        assert not out.exists()  # no empty shard, no settings file
        patch.setattr(PrivacyGuard, "rejected", reject_first)
        assert ldlm(argv) == 1
        err = capsys.readouterr().err
        assert "only 18 of the 20 rows" in err and "2 are missing" in err and "privacy guard" in err
        assert shard_rows(out) == [9, 9]
    assert ldlm(argv) == 0  # the short shards were not complete: this run samples them again
    assert shard_rows(out) == [10, 10]
    assert "Parquet shards of 20 rows" in capsys.readouterr().out


def test_shard_folder_refuses_another_model(table_model, tmp_path, capsys):
    other = tmp_path / "other-model"
    pipe = DiffusionPipeline.from_pretrained(table_model)
    with torch.no_grad():  # the same configs, other weights: a retrained model
        for parameter in pipe.denoiser.parameters():
            parameter.add_(0.01)
    pipe.save_pretrained(other)
    out = tmp_path / "d"
    argv = ["-n", "6", "--shard-size", "3", "--out", f"{out}/"]
    assert ldlm(["sample", str(table_model), *argv]) == 0
    lost = sorted(out.glob("shard-*.parquet"))[1]
    lost.unlink()
    message = error_of(capsys, ["sample", str(other), *argv])
    assert "model.denoiser differ" in message and "vae" not in message
    assert not lost.exists()
    assert ldlm(["sample", str(table_model), *argv]) == 0 and lost.exists()  # the same model resumes


def test_refused_privacy_mode_leaves_the_shard_folder_untouched(table_model, tmp_path, capsys):
    out = tmp_path / "d"
    assert "dcr" in error_of(capsys, ["sample", str(table_model), "-n", "4", "--out", f"{out}/", "--privacy", "dcr"])
    assert not out.exists()
    assert ldlm(["sample", str(table_model), "-n", "4", "--out", f"{out}/", "--privacy", "reject_copies"]) == 0
    assert json.loads((out / SETTINGS_FILE).read_text())["privacy"] == "reject_copies"


def test_sampling_into_one_file_shows_progress_before_the_end(table_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(table_sampling, "tqdm", functools.partial(tqdm, mininterval=0))  # draw every update
    monkeypatch.setattr(table_sampling, "CPU_CHUNK_ROWS", 100)  # the bar moves chunk by chunk (1,024 rows by default)
    rows = 300
    assert ldlm(["sample", str(table_model), "-n", str(rows), "--out", str(tmp_path / "s.csv")]) == 0
    err = capsys.readouterr().err
    counts = {int(count) for count in re.findall(rf"(\d+)/{rows}\b", err)}
    assert any(0 < count < rows for count in counts), err  # the bar moved while rows were being sampled
    assert "row/s" in err


# Every `ldlm sample` / `ldlm complete` flag, against a table model and a nested-record model: it works (exit 0) or
# is refused in one line (exit 2) before any sampling; none is silently ignored where it cannot apply.
SAMPLE_FLAGS = [  # (extra argv, the output's suffix, table model, nested model)
    ([], "x", "works", "works"),
    (["--seed", "3"], "x", "works", "works"),
    (["--unconstrained"], "x", "works", "works"),
    (["--dtype", "bfloat16"], "x", "works", "works"),
    (["--dtype", "float32"], "x", "works", "works"),
    (["--privacy", "reject_copies"], "x", "works", "works"),
    (["--privacy", "dcr"], "x", "refused", "refused"),  # the table model kept no reference (no --privacy-reference)
    (["--guidance-scale", "2"], "x", "refused", "refused"),  # nothing to weigh: no condition columns
    (["--condition", "size=M"], "x", "works", "refused"),
    (["--shard-size", "2"], "x", "refused", "refused"),  # a file --out
    (["--shard-size", "2"], "/", "works", "refused"),  # a folder --out
    (["--no-tool-call-consistency"], "x", "refused", "works"),
]


@pytest.mark.parametrize("kind", ["table", "nested"])
@pytest.mark.parametrize("extra, suffix, table, nested", SAMPLE_FLAGS)
def test_every_sample_flag_works_or_is_refused_for_each_record_kind(table_model, nested_model, tmp_path, capsys,
                                                                     kind, extra, suffix, table, nested):
    model, expected = (table_model, table) if kind == "table" else (nested_model, nested)
    out = tmp_path / ("out/" if suffix == "/" else ("out.csv" if kind == "table" else "out.jsonl"))
    argv = ["sample", str(model), "-n", "4", "--out", str(out) + ("/" if suffix == "/" else ""), *extra]
    if expected == "refused":
        error_of(capsys, argv)
        assert not out.exists() and not out.with_name(f".{out.name}.tmp").exists()
    else:
        code = ldlm(argv)
        err = capsys.readouterr().err
        assert code == 0 and out.exists() or code == 1 and "were written" in err, err  # 1: a tiny random model
        # wrote fewer valid rows than asked, and said so


COMPLETE_FLAGS = [  # (extra argv, table model, nested model): completing cells needs a table model
    ([], "works", "refused"),
    (["--seed", "3"], "works", "refused"),
    (["--dtype", "bfloat16"], "works", "refused"),
    (["--read-options", '{"skipinitialspace": true}'], "works", "refused"),
    (["--guidance-scale", "2"], "refused", "refused"),  # nothing to weigh: no condition columns
]


@pytest.mark.parametrize("kind", ["table", "nested"])
@pytest.mark.parametrize("extra, table, nested", COMPLETE_FLAGS)
def test_every_complete_flag_works_or_is_refused_for_each_record_kind(table_model, nested_model, tmp_path, capsys,
                                                                       kind, extra, table, nested):
    model, expected = (table_model, table) if kind == "table" else (nested_model, nested)
    separator = ", " if "--read-options" in extra else ","  # the space needs skipinitialspace
    (tmp_path / "partial.csv").write_text(f"size{separator}stock\nM{separator}\n{separator}12\n")
    out = tmp_path / "filled.csv"
    argv = ["complete", str(model), str(tmp_path / "partial.csv"), "--out", str(out), *extra]
    if expected == "refused":
        error_of(capsys, argv)
        assert not out.exists()
        return
    assert ldlm(argv) == 0, capsys.readouterr().err
    filled = pd.read_csv(out)
    assert len(filled) == 2 and not filled.isna().any().any()


def test_complete_is_refused_for_nested_records_and_guidance_needs_a_condition(table_model, nested_model, tmp_path,
                                                                               capsys):
    (tmp_path / "partial.csv").write_text("size,stock\nM,\n")
    message = error_of(capsys, ["complete", str(nested_model), str(tmp_path / "partial.csv"), "--out",
                                str(tmp_path / "f.csv")])
    assert "nested JSON records" in message and not (tmp_path / "f.csv").exists()
    message = error_of(capsys, ["complete", str(table_model), str(tmp_path / "partial.csv"), "--out",
                                str(tmp_path / "f.csv"), "--guidance-scale", "2"])
    assert "nothing to weigh" in message
    assert ldlm(["complete", str(table_model), str(tmp_path / "partial.csv"), "--out", str(tmp_path / "f.csv")]) == 0
