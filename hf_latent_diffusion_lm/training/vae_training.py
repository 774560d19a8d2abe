"""Stage 1: train the latent VAE (encoder, posterior, injector) against the frozen decoder with accelerate."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data import build_record_dataset, collate_records, read_table
from ..data.json_lines import read_json_records
from ..data.record_schemas import holds_nested_records, infer_schema
from ..modeling import LatentVAEModel
from .beta_schedule import BetaDecision, DecreasingBetaSchedule
from .checkpointing import resolve_checkpoint, save_atomically, save_pretrained_atomically
from .components import build_vae_components


@dataclass
class VAETrainingConfig:
    """Everything stage 1 needs; saved as ``training_config.json`` so stage 2 and resumed runs see the same."""

    data: str
    output_dir: str
    preset: str = "small"
    encoder: str | None = None
    decoder: str | None = None
    decoder_gguf_file: str | None = None
    injection_method: str = "soft_prompt"
    latent_dim: int | None = None
    num_soft_tokens: int | None = None
    columns: list[str] | None = None
    max_rows: int | None = None
    target: str | None = None
    read_options: str | None = None  # JSON object of pandas read options, e.g. '{"skipinitialspace": true}'
    schema: str | None = field(default=None, metadata={
        "help": "a JSON Schema file the (nested JSON Lines) records follow; default: inferred from the data"})
    max_length: int = 512
    validation_fraction: float = 0.1
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    max_steps: int = 1000
    eval_every: int = 50
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    max_beta: float = 0.1
    min_beta: float = 1e-3
    beta_factor: float = 0.7
    patience: int = 3
    min_delta: float = 0.0  # a validation gain (nats/token) smaller than this counts as "stopped improving"
    sample_posterior: bool = True
    mixed_precision: str = "no"
    seed: int = 0
    resume_from_checkpoint: str | None = None


class TrainingProgress:
    """Counters that must survive a restart (registered with ``accelerator.register_for_checkpointing``)."""

    def __init__(self):
        self.step = 0
        self.batches_seen = 0

    def state_dict(self) -> dict:
        return {"step": self.step, "batches_seen": self.batches_seen}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.batches_seen = state["step"], state["batches_seen"]


def load_training_table(config: VAETrainingConfig):
    """The table to learn (for nested JSON Lines or with a JSON Schema: the list of records), restricted to the
    chosen columns (top-level keys) and rows; both stages read it the same way."""
    if config.schema or holds_nested_records(config.data):
        records = read_json_records(config.data)
        if config.columns:
            records = [{key: record[key] for key in config.columns if key in record} for record in records]
        return records[: config.max_rows] if config.max_rows else records
    frame = read_table(config.data, **json.loads(config.read_options or "{}"))
    if config.columns:
        unknown = [c for c in config.columns if c not in frame.columns]
        if unknown:
            raise KeyError(f"Unknown column(s) {unknown}; the data has: {', '.join(map(str, frame.columns))}.")
        frame = frame[list(config.columns)]
    if config.max_rows:
        frame = frame.head(config.max_rows)
    return frame


def vae_components(config: VAETrainingConfig):
    """The VAE, frozen decoder and tokenizers that ``config`` names (stage 2 rebuilds the same decoder side)."""
    return build_vae_components(config.preset, config.encoder, config.decoder, config.decoder_gguf_file,
                                config.injection_method, config.latent_dim, config.num_soft_tokens, config.seed)


def record_loaders(config: VAETrainingConfig, components, frame, schema):
    """Training and (when the split has one) validation loaders of tokenised records."""
    datasets = build_record_dataset(frame, schema, components.tokenizer, components.encoder_tokenizer,
                                    max_length=config.max_length, validation_fraction=config.validation_fraction,
                                    seed=config.seed)
    columns = ["input_ids", "encoder_input_ids"]
    collate = partial(collate_records, tokenizer=components.tokenizer, encoder_tokenizer=components.encoder_tokenizer)
    train = DataLoader(datasets["train"].select_columns(columns), batch_size=config.batch_size, shuffle=True,
                       collate_fn=collate, generator=torch.Generator().manual_seed(config.seed))
    validation = None
    if "validation" in datasets:
        validation = DataLoader(datasets["validation"].select_columns(columns), batch_size=config.batch_size,
                                collate_fn=collate)
    return train, validation


@torch.no_grad()
def validation_reconstruction(vae, loader, accelerator) -> float:
    """Token-weighted reconstruction NLL from the posterior means (no sampling noise)."""
    vae.eval()
    total, count = torch.zeros((), device=accelerator.device), torch.zeros((), device=accelerator.device)
    for batch in loader:
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        tokens = batch["attention_mask"][:, 1:].sum()
        output = vae(**batch, sample_posterior=False)
        total += output.reconstruction_per_token * tokens
        count += tokens
    vae.train()
    return (total / count).item()


def train_vae(config: VAETrainingConfig) -> LatentVAEModel:
    """Train stage 1 and save ``output_dir/vae`` (best checkpoint), ``schema.json`` and ``training_config.json``."""
    output = Path(config.output_dir)
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        dataloader_config=DataLoaderConfiguration(split_batches=True, use_seedable_sampler=True),
    )
    set_seed(config.seed)
    frame = load_training_table(config)
    schema = infer_schema(frame, target=config.target, json_schema=config.schema)
    components = vae_components(config)
    vae, decoder = components.vae, components.decoder
    train_loader, validation_loader = record_loaders(config, components, frame, schema)
    if accelerator.is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        schema.save(output / "schema.json")
        (output / "training_config.json").write_text(json.dumps(asdict(config), indent=2))

    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.learning_rate)
    vae, optimizer, train_loader = accelerator.prepare(vae, optimizer, train_loader)
    decoder.to(accelerator.device)
    schedule = DecreasingBetaSchedule(config.max_beta, config.min_beta, config.beta_factor, config.patience,
                                      config.min_delta)
    progress = TrainingProgress()
    accelerator.register_for_checkpointing(schedule, progress)
    if config.resume_from_checkpoint:
        accelerator.load_state(str(resolve_checkpoint(output / "checkpoints", config.resume_from_checkpoint)))
    model = accelerator.unwrap_model(vae)
    best_dir = output / "vae"
    log_path = output / "vae_log.csv"
    log_mode = "a" if config.resume_from_checkpoint and log_path.exists() else "w"
    log = open(log_path, log_mode, newline="") if accelerator.is_main_process else None
    writer = csv.writer(log) if log else None
    if writer and log_mode == "w":
        writer.writerow(["step", "loss", "reconstruction_per_token", "kl", "beta", "val_reconstruction_per_token",
                         "decision"])

    vae.train()
    bar = tqdm(total=config.max_steps, initial=progress.step, desc="VAE", disable=not accelerator.is_main_process)
    stop = False
    while progress.step < config.max_steps and not stop:
        epoch, skip = divmod(progress.batches_seen, len(train_loader))
        train_loader.set_epoch(epoch)
        batches = accelerator.skip_first_batches(train_loader, skip) if skip else train_loader
        for batch in batches:
            with accelerator.accumulate(vae):
                out = vae(**batch, beta=schedule.beta, sample_posterior=config.sample_posterior)
                accelerator.backward(out.loss)
                optimizer.step()
                optimizer.zero_grad()
            progress.batches_seen += 1
            if not accelerator.sync_gradients:
                continue
            progress.step += 1
            bar.update(1)
            bar.set_postfix(recon=f"{out.reconstruction_per_token.item():.3f}", kl=f"{out.kl.item():.1f}",
                            beta=f"{schedule.beta:.2g}")
            row = [progress.step, out.loss.item(), out.reconstruction_per_token.item(), out.kl.item(), schedule.beta,
                   "", ""]
            if progress.step % config.eval_every == 0 or progress.step == config.max_steps:
                value = validation_reconstruction(vae, validation_loader or train_loader, accelerator)
                decision = schedule.step(value)
                row[5:] = [value, decision.value]
                if decision is BetaDecision.IMPROVED and accelerator.is_main_process:
                    save_pretrained_atomically(model, best_dir)
                accelerator.wait_for_everyone()
                if decision is BetaDecision.DECREASE and best_dir.exists():
                    model.load_state_dict(LatentVAEModel.from_pretrained(best_dir).state_dict())
                stop = decision is BetaDecision.STOP
            if writer:
                writer.writerow(row)
                log.flush()
            if progress.step % config.checkpoint_every == 0:
                save_atomically(accelerator, output / "checkpoints", progress.step, config.keep_checkpoints)
            if stop or progress.step >= config.max_steps:
                break
    bar.close()
    if log:
        log.close()
    if progress.step % config.checkpoint_every:
        save_atomically(accelerator, output / "checkpoints", progress.step, config.keep_checkpoints)
    accelerator.wait_for_everyone()
    if not best_dir.exists() and accelerator.is_main_process:
        save_pretrained_atomically(model, best_dir)
    accelerator.wait_for_everyone()
    best = LatentVAEModel.from_pretrained(best_dir)
    best.attach_decoder(decoder)
    return best
