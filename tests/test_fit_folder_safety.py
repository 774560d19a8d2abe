"""A fitted pipeline folder is made to be shared: refitting keeps every file the user put in it, at any depth; it
holds nothing of the training data, its path or its file name; a resumed run continues only on the same data and
options; options that cannot work are refused before stage 1."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_latent_diffusion_lm.atomic_saving import remove_saved, save_pretrained_atomically
from hf_latent_diffusion_lm.cli import main as ldlm
from hf_latent_diffusion_lm.training import fit_pipeline

TABLE = pd.DataFrame({"age": [30, 41, 25, 33, 52, 47, 38, 29, 61, 44],
                      "city": ["oslo", "rome", "lima", "oslo", "rome", "lima", "kyiv", "oslo", "rome", "kyiv"],
                      "secretcode": [f"zq{i}x" for i in range(10)]})
FAST = dict(preset="tiny", max_steps=3, batch_size=4, diffusion_steps=5)
CLI_FAST = ["--preset", "tiny", "--max-steps", "3", "--diffusion-max-steps", "5", "--batch-size", "4"]
USER_FOLDERS = ["", "vae", "denoiser", "privacy_guard", "decoder", "training", "training/checkpoints", "training/vae"]


def plant_user_files(folder):
    for sub in USER_FOLDERS:
        (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / sub / "keep.txt").write_text(f"mine: {sub}")


def assert_user_files_kept(folder):
    for sub in USER_FOLDERS:
        assert (folder / sub / "keep.txt").read_text() == f"mine: {sub}", sub


@pytest.mark.parametrize("overwrite", [True, False])
def test_refitting_keeps_the_users_files_at_every_depth(tmp_path, overwrite):
    table = tmp_path / "t.csv"
    TABLE.to_csv(table, index=False)
    out = tmp_path / "model"
    if not overwrite:  # first a pipeline, so that a refit without --overwrite is allowed
        assert ldlm(["fit", str(table), "--out", str(out), *CLI_FAST]) == 0
    plant_user_files(out)
    assert ldlm(["fit", str(table), "--out", str(out), *CLI_FAST, *(["--overwrite"] if overwrite else [])]) == 0
    assert_user_files_kept(out)
    assert (out / "model_index.json").is_file() and (out / "vae" / "config.json").is_file()
    assert not (out / "training" / "vae" / "config.json").exists()  # our intermediate model is cleaned up ...
    assert not list((out / "training" / "checkpoints").glob("step-*"))  # ... and our checkpoints


class Saveable:
    """Writes the given files, as ``save_pretrained`` would."""

    def __init__(self, files):
        self.files = files

    def save_pretrained(self, directory):
        for name, text in self.files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(text)


names = st.lists(st.sampled_from(["config.json", "a/model.safetensors", "a/b/weights-1.safetensors", "c/x.json",
                                  "a/config.json"]), unique=True, min_size=1)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=names, second=names, user=st.lists(st.sampled_from(["notes.txt", "a/notes.txt", "a/b/n.txt",
                                                                  "d/n.txt"]), unique=True))
def test_a_save_replaces_only_what_saves_wrote(tmp_path_factory, first, second, user):
    folder = tmp_path_factory.mktemp("saved")
    for name in user:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("user")
    save_pretrained_atomically(Saveable({name: "1" for name in first}), folder)
    save_pretrained_atomically(Saveable({name: "2" for name in second}), folder)
    for name in user:
        assert (folder / name).read_text() == "user"
    for name in second:
        assert (folder / name).read_text() == "2"
    for name in set(first) - set(second) - set(user):
        assert not (folder / name).exists(), "a file only the first save wrote is gone"
    remove_saved(folder)
    left = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert left == sorted(user)


@pytest.mark.parametrize("data", ["frame", "records"])
def test_the_folder_holds_nothing_of_the_training_data(tmp_path, data):
    source = TABLE if data == "frame" else TABLE.to_dict("records")
    fit_pipeline(source, tmp_path / "m", **FAST)
    files = [p for p in (tmp_path / "m").rglob("*") if p.is_file()]
    assert not [p for p in files if p.stem == "data"]
    text = b"".join(p.read_bytes() for p in files)
    assert b"ldlm-data-" not in text and b"data.parquet" not in text and b"data.jsonl" not in text
    assert json.loads((tmp_path / "m" / "training" / "training_config.json").read_text())["data"] is None


def test_a_path_given_is_not_recorded_either(tmp_path):
    table = tmp_path / "private-name.csv"
    TABLE.to_csv(table, index=False)
    fit_pipeline(table, tmp_path / "m", **FAST)
    text = b"".join(p.read_bytes() for p in (tmp_path / "m").rglob("*") if p.is_file())
    assert b"private-name" not in text and str(table).encode() not in text


def test_resume_refuses_other_data_and_other_options(tmp_path, capsys):
    table, other = tmp_path / "t.csv", tmp_path / "other.csv"
    TABLE.to_csv(table, index=False)
    TABLE.assign(age=TABLE["age"] + 1).to_csv(other, index=False)
    out = tmp_path / "m"
    assert ldlm(["fit", str(table), "--out", str(out), *CLI_FAST, "--keep-checkpoints"]) == 0
    assert ldlm(["fit", str(other), "--out", str(out), *CLI_FAST, "--resume"]) == 2
    assert "the data differs" in capsys.readouterr().err
    assert ldlm(["fit", str(table), "--out", str(out), *CLI_FAST, "--resume", "--latent-dim", "7"]) == 2
    err = capsys.readouterr().err
    assert "--latent-dim" in err and "Traceback" not in err and "size mismatch" not in err
    assert ldlm(["fit", str(table), "--out", str(out), *CLI_FAST, "--max-steps", "5", "--resume"]) == 0  # more steps


@pytest.mark.parametrize("argv, named", [(["--privacy-quantile", "150"], "--privacy-quantile")])
def test_privacy_options_are_refused_before_stage_one(tmp_path, capsys, argv, named):
    table = tmp_path / "t.csv"
    TABLE.to_csv(table, index=False)
    assert ldlm(["fit", str(table), "--out", str(tmp_path / "never"), *CLI_FAST, *argv]) == 2
    assert named in capsys.readouterr().err and not (tmp_path / "never").exists()


def test_privacy_reference_on_nested_records_is_refused_before_stage_one(tmp_path):
    records = [{"user": {"name": n, "tags": ["a"] * (i % 3)}} for i, n in enumerate("abcdefgh")]
    with pytest.raises(ValueError, match="--privacy-reference"):
        fit_pipeline(records, tmp_path / "never", diffusion_options={"privacy_reference": True}, **FAST)
    assert not (tmp_path / "never" / "training" / "vae").exists()
