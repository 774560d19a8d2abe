"""Training runs as a user runs them: killed and resumed, and on two processes under accelerate launch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from diffusers import DiffusionPipeline
from safetensors.torch import load_file

import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline with diffusers)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "adult_sample.csv"
COLUMNS = "age,workclass,sex,hours-per-week,income"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def train_vae_args(output_dir, max_steps, batch_size=8, *extra):
    return ["--data", str(FIXTURE), "--output_dir", str(output_dir), "--preset", "tiny",
            "--read_options", '{"skipinitialspace": true}', "--columns", *COLUMNS.split(","),
            "--max_rows", "120", "--max_steps", str(max_steps), "--batch_size", str(batch_size),
            "--eval_every", "5", "--checkpoint_every", "10", "--checkpoints_total_limit", "10", "--patience", "1",
            "--max_beta", "0.1", "--min_beta", "0.01", "--beta_factor", "0.5", "--min_delta", "0.05", *extra]


def final_weights(output_dir):
    """The weights of the last checkpoint (training always checkpoints where it ends, early stop included)."""
    from hf_latent_diffusion_lm.training.checkpointing import checkpoint_dirs

    return load_file(checkpoint_dirs(Path(output_dir) / "checkpoints")[-1] / "model.safetensors")


def assert_same_weights(first, second, atol=0.0):
    assert first.keys() == second.keys()
    for name in first:
        assert torch.allclose(first[name], second[name], atol=atol, rtol=0), name


def test_killed_run_resumes_to_the_same_parameters(tmp_path):
    script = [sys.executable, str(ROOT / "scripts" / "train_vae.py")]
    subprocess.run(script + train_vae_args(tmp_path / "straight", 40), check=True, env=ENV, capture_output=True)

    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(script + train_vae_args(interrupted, 40), env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (interrupted / "checkpoints" / "step-10").is_dir():
        assert process.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = sorted(p.name for p in (interrupted / "checkpoints").iterdir() if not p.name.startswith("."))
    assert "step-20" not in finished, "the run went on too far before it could be killed"

    subprocess.run(script + train_vae_args(interrupted, 40, 8, "--resume_from_checkpoint", "latest"),
                   check=True, env=ENV, capture_output=True)
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(interrupted), atol=1e-6)
    straight_log = pd.read_csv(tmp_path / "straight" / "vae_log.csv")
    assert pd.read_csv(interrupted / "vae_log.csv")["step"].tolist() == straight_log["step"].tolist()  # no repeats
    checkpoint_files = [p.name for p in (interrupted / "checkpoints").rglob("*") if p.is_file()]
    assert "training_state.json" in checkpoint_files  # progress as JSON ...
    assert not any(name.startswith("custom_checkpoint") for name in checkpoint_files)  # ... not accelerate's pickle
    assert straight_log["beta"].iloc[-1] < straight_log["beta"].iloc[0], "beta went down during the run"


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    common = train_vae_args(tmp_path / "{}", 10, 8, "--no_sample_posterior")
    single = [a.replace("{}", "single") for a in common]
    double = [a.replace("{}", "double") for a in common]
    subprocess.run([sys.executable, str(ROOT / "scripts" / "train_vae.py"), *single], check=True, env=ENV,
                   capture_output=True)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533"]
    result = subprocess.run(launch + [str(ROOT / "scripts" / "train_vae.py"), *double], env=ENV,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_weights(final_weights(tmp_path / "single"), final_weights(tmp_path / "double"), atol=1e-5)


def train_diffusion_args(vae_dir, output_dir, max_steps, *extra):
    return ["--vae_dir", str(vae_dir), "--output_dir", str(output_dir), "--hidden_dim", "32", "--num_layers", "2",
            "--batch_size", "8", "--max_steps", str(max_steps), "--eval_every", "5", "--checkpoint_every", "5",
            "--checkpoints_total_limit", "10", *extra]


def diffusion_weights(output_dir, step):
    return load_file(Path(output_dir) / "training" / "diffusion-checkpoints" / f"step-{step}" / "model.safetensors")


def test_stage_two_splits_one_global_batch_over_two_processes_and_resumes_exactly(tmp_path):
    script = [sys.executable, str(ROOT / "scripts" / "train_diffusion.py")]
    subprocess.run([sys.executable, str(ROOT / "scripts" / "train_vae.py"), *train_vae_args(tmp_path / "vae", 5)],
                   check=True, env=ENV, capture_output=True)
    subprocess.run(script + train_diffusion_args(tmp_path / "vae", tmp_path / "single", 10), check=True, env=ENV,
                   capture_output=True)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29534"]
    result = subprocess.run(launch + script[1:] + train_diffusion_args(tmp_path / "vae", tmp_path / "double", 10),
                            env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    # Gradients all-reduced over the two halves of each global batch = one process on the whole batch.
    assert_same_weights(diffusion_weights(tmp_path / "single", 10), diffusion_weights(tmp_path / "double", 10),
                        atol=1e-5)

    subprocess.run(script + train_diffusion_args(tmp_path / "vae", tmp_path / "resumed", 5), check=True, env=ENV,
                   capture_output=True)
    subprocess.run(script + train_diffusion_args(tmp_path / "vae", tmp_path / "resumed", 10,
                                                 "--resume_from_checkpoint", "latest"),
                   check=True, env=ENV, capture_output=True)
    assert_same_weights(diffusion_weights(tmp_path / "single", 10), diffusion_weights(tmp_path / "resumed", 10),
                        atol=1e-6)
    kept = "denoiser/diffusion_pytorch_model.safetensors"  # the weight average, restored from the checkpoint too
    assert_same_weights(load_file(tmp_path / "single" / kept), load_file(tmp_path / "resumed" / kept), atol=1e-6)
    loaded = DiffusionPipeline.from_pretrained(tmp_path / "resumed")
    assert (tmp_path / "resumed" / "training" / "diffusion-checkpoints").is_dir(), "state kept with the pipeline"
    assert not list((tmp_path / "resumed" / "decoder").glob("*.safetensors")) and loaded.decoder is not None
