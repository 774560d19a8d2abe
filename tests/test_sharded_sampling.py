"""`ldlm sample --out folder/`: Parquet shards written as rows are sampled, resumed after an interruption, and
split over processes by `accelerate launch` with the same rows as one process."""

import os
import socket
import subprocess
import sys

import datasets
import pandas as pd
import pytest
from conftest import fit_shop_model

from hf_latent_diffusion_lm.cli import main as ldlm

ROWS, SHARD = 10, 3  # four shards, the last one short


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return fit_shop_model(tmp_path_factory.mktemp("sharded"))


def shards(folder):
    return sorted(folder.glob("shard-*.parquet"))


def read_folder(folder, tmp_path) -> pd.DataFrame:
    return datasets.load_dataset("parquet", data_dir=str(folder), split="train",
                                 cache_dir=str(tmp_path / "datasets-cache")).to_pandas()


def test_interrupted_run_resumes_and_rewrites_only_the_missing_shard(model, tmp_path, capsys):
    out = tmp_path / "synthetic"
    assert ldlm(["sample", str(model), "-n", str(ROWS), "--out", f"{out}/", "--shard-size", str(SHARD)]) == 0
    assert len(shards(out)) == 4
    first = read_folder(out, tmp_path)
    assert len(first) == ROWS and list(first.columns) == ["size", "stock"]

    lost = shards(out)[2]
    original = pd.read_parquet(lost)
    lost.unlink()  # as if the run had been stopped before writing it
    kept = {path: path.stat().st_mtime_ns for path in shards(out)}
    assert ldlm(["sample", str(model), "-n", str(ROWS), "--out", f"{out}/", "--shard-size", str(SHARD)]) == 0
    assert {path: path.stat().st_mtime_ns for path in kept} == kept  # written shards were skipped
    pd.testing.assert_frame_equal(pd.read_parquet(lost), original)  # the resumed shard has the same rows

    capsys.readouterr()
    assert ldlm(["sample", str(model), "-n", str(ROWS), "--out", f"{out}/", "--shard-size", str(SHARD),
                 "--seed", "1"]) != 0  # shards of another run are never mixed in
    assert "seed differ" in capsys.readouterr().err
    assert len(shards(out)) == 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_write_the_rows_of_one_process(model, tmp_path):
    alone, pair = tmp_path / "alone", tmp_path / "pair"
    assert ldlm(["sample", str(model), "-n", str(ROWS), "--out", f"{alone}/", "--shard-size", str(SHARD)]) == 0
    script = os.path.join(os.path.dirname(__file__), "..", "scripts", "generate.py")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(free_port()), script, str(model), "-n", str(ROWS), "--out", f"{pair}/",
              "--shard-size", str(SHARD)]
    result = subprocess.run(launch, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "process 1" in result.stderr  # the second process sampled its own share
    together = read_folder(pair, tmp_path)
    assert len(together) == ROWS
    pd.testing.assert_frame_equal(together, read_folder(alone, tmp_path))
    frames = [pd.read_parquet(path) for path in shards(pair)]
    assert all(not a.equals(b) for i, a in enumerate(frames) for b in frames[i + 1 :])  # distinct seed streams
