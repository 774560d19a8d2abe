"""Data to a trained, saved pipeline in one call: stage 1 then stage 2, handing over in memory."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from ..atomic_saving import remove_saved, write_json_atomically
from ..data.json_lines import write_json_lines
from ..pipelines import LatentDiffusionLMPipeline
from .checkpointing import remove_checkpoints
from .diffusion_training import DiffusionTrainingConfig, train_diffusion
from .config_flags import DIFFUSION_FLAGS, VAE_FLAGS
from .option_checks import FitShape, check_options_apply, check_training_table, options_set
from .time_budget import STAGE1_SHARE, STAGE2_SHARE, UNLIMITED_STEPS, parse_duration
from .output_directory import check_output_directory
from .vae_training import VAETrainingConfig, injection_method, load_training_table, reads_json_records, train_vae

TRAINING_FOLDER = "training"  # inside the pipeline directory: logs, configs, and (until done) resumable state
CHECKPOINT_FOLDERS = ("checkpoints", "diffusion-checkpoints")
SAVED_STATE = ("vae", "denoiser", "adapter")  # intermediate models, saved by save_pretrained_atomically


def fit_pipeline(
    data,
    out_dir: str | os.PathLike,
    preset: str = "small",
    condition_columns: list[str] | None = None,
    diffusion_steps: int | None = None,
    diffusion_options: dict | None = None,
    keep_checkpoints: bool = False,
    overwrite: bool = False,
    **vae_options,
) -> LatentDiffusionLMPipeline:
    """Train the VAE and the latent prior; save the pipeline to ``out_dir``.

    Stage 1's resumable state, logs and configs live in ``out_dir/training/``; once the pipeline is saved the
    optimizer states and intermediate models are removed unless ``keep_checkpoints``, and the configs forget where
    the data came from: nothing of the training data, its path or its file name stays in the folder.
    ``data`` is a path (CSV, Parquet, JSON Lines: flat or nested), a DataFrame or a list of dicts, nested or not
    (both written to a temporary file outside ``out_dir`` for the run);
    ``vae_options`` are fields of :class:`VAETrainingConfig` (``max_steps``, ``batch_size``, ``columns``...);
    ``diffusion_options`` are fields of :class:`DiffusionTrainingConfig` (``hidden_dim``, ``batch_size``...).
    A non-empty ``out_dir`` that is not a pipeline is refused unless ``overwrite`` (nothing else in it is deleted).
    """
    check_output_directory(out_dir, overwrite)
    out_dir = Path(out_dir)
    training = out_dir / TRAINING_FOLDER
    resume = vae_options.get("resume_from_checkpoint")
    options = {"seed": vae_options.get("seed", 0), "mixed_precision": vae_options.get("mixed_precision", "auto"),
               "resume_from_checkpoint": resume and _diffusion_resume(training), **(diffusion_options or {})}
    diffusion_config = DiffusionTrainingConfig(vae_dir=str(training), output_dir=str(out_dir),
                                               condition_columns=condition_columns, max_steps=diffusion_steps,
                                               **options)
    with tempfile.TemporaryDirectory(prefix="ldlm-data-") as scratch:
        path = data if isinstance(data, (str, os.PathLike)) else Path(scratch) / (
            "data.jsonl" if isinstance(data, (list, tuple)) else "data.parquet")
        vae_config = VAETrainingConfig(data=str(path), output_dir=str(training), preset=preset, **vae_options)
        if isinstance(data, (list, tuple)):
            write_json_lines(data, path)
        elif path is not data:
            data.to_parquet(path)
        frame = load_training_table(vae_config)
        tables = not reads_json_records(vae_config)
    shape = FitShape(tables, injection_method(vae_config, tables), conditioned=bool(condition_columns),
                     dcr_guard=diffusion_config.privacy_reference)
    check_options_apply(options_set(vae_config, vae_config.preset_filled), VAE_FLAGS, shape)
    check_options_apply(options_set(diffusion_config), DIFFUSION_FLAGS, shape)
    check_training_table(frame, tables, condition_columns, vae_config.target)
    started = time.time()
    trained = train_vae(vae_config, frame)
    budget = parse_duration(vae_config.time_budget)
    if budget is not None and diffusion_config.max_seconds is None:  # stage 2 gets its share and what stage 1 left
        left = started + budget * (STAGE1_SHARE + STAGE2_SHARE) - time.time()
        diffusion_config.max_seconds = max(budget * STAGE2_SHARE, left)
        if diffusion_steps is None:
            diffusion_config.max_steps = UNLIMITED_STEPS
    pipe = train_diffusion(diffusion_config, trained)
    forget_data_source(training)
    if not keep_checkpoints:
        for name in CHECKPOINT_FOLDERS:
            remove_checkpoints(training / name)
        for name in SAVED_STATE:
            remove_saved(training / name)
    return pipe


def forget_data_source(training: Path) -> None:
    """Blank the data path in the saved training config: the folder is made to be shared, the path is the owner's
    (a resumed run is given its data again)."""
    path = training / "training_config.json"
    if path.is_file():
        write_json_atomically(path, {**json.loads(path.read_text()), "data": None})


def _diffusion_resume(training: Path) -> str | None:
    """Resume stage 2 too when an interrupted run had reached it."""
    return "latest" if (training / "diffusion-checkpoints").is_dir() else None
