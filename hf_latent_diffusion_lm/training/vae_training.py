"""Stage 1: train the latent VAE (encoder, posterior, injector) against the frozen decoder with accelerate."""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data import TableSchema, build_record_dataset, collate_records, read_table
from ..modeling import LatentVAEModel
from ..modeling.decoder_adapter import (AdapterCheckpoint, adapter_parameters, add_decoder_lora,
                                        restore_decoder_adapter, save_decoder_adapter)
from .beta_schedule import BetaDecision, DecreasingBetaSchedule
from .checkpointing import resolve_checkpoint, save_atomically, save_pretrained_atomically, write_json_atomically
from .field_accuracy import TRAINING_SUMMARY, reconstruction_accuracy
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
    latent_dim: int | None = field(default=None, metadata={"help": "latent size (default: the preset's)"})
    num_soft_tokens: int | None = field(
        default=None, metadata={"help": "decoder positions the latent is injected into (default: the preset's)"})
    record_format: str = field(default="keyed", metadata={
        "help": "how records are written: 'keyed' ({age: 39, sex: Male}) or 'compact' (values only, in schema "
                "order: {39, Male}; fewer tokens per record); stored in the schema, so sampling uses the same"})
    decoder_lora_rank: int = field(default=0, metadata={
        "help": "rank of LoRA adapters on the decoder, trained with the VAE (0: frozen decoder); the base stays "
                "frozen and only the adapter is saved with the pipeline"})
    field_accuracy_rows: int | None = field(default=None, metadata={
        "help": "validation records decoded at each evaluation to measure field accuracy (0: off; default: 32 with "
                "preset tiny, else 200)"})
    max_cpu_seconds: float | None = field(default=None, metadata={
        "help": "stop stage 1 after this much CPU time of the process in the training loop (a budget that a "
                "shared machine's load does not change; evaluations count, loading does not)"})
    columns: list[str] | None = None
    max_rows: int | None = None
    target: str | None = None
    read_options: str | None = None  # JSON object of pandas read options, e.g. '{"skipinitialspace": true}'
    max_length: int = 512
    validation_fraction: float = 0.1
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    max_steps: int = 1000
    eval_every: int = 50
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    max_beta: float = field(default=0.1, metadata={"help": "the KL weight training starts with"})
    min_beta: float = field(default=1e-3, metadata={"help": "the KL weight's floor"})
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
    """The table to learn, restricted to the chosen columns and rows (both stages read it the same way)."""
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
    """Training and (when the split has one) validation loaders of tokenised records, and the validation texts
    (the training texts without a validation split)."""
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
    return train, validation, datasets["validation" if validation else "train"]["text"]


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
    schema = dataclasses.replace(TableSchema.infer(frame, target=config.target), record_format=config.record_format)
    components = vae_components(config)
    vae, decoder = components.vae, components.decoder
    trainable = list(vae.parameters())
    if config.decoder_lora_rank:
        decoder = add_decoder_lora(decoder, config.decoder_lora_rank)
        vae.attach_decoder(decoder)
        trainable += adapter_parameters(decoder)
    train_loader, validation_loader, validation_texts = record_loaders(config, components, frame, schema)
    accuracy_rows = config.field_accuracy_rows
    if accuracy_rows is None:
        accuracy_rows = 32 if config.preset == "tiny" else 200
    accuracy_texts = validation_texts[:accuracy_rows]
    lengths = [len(ids) for ids in train_loader.dataset["input_ids"]]
    if accelerator.is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        schema.save(output / "schema.json")
        (output / "training_config.json").write_text(json.dumps(asdict(config), indent=2))

    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate)
    vae, optimizer, train_loader = accelerator.prepare(vae, optimizer, train_loader)
    decoder.to(accelerator.device)
    schedule = DecreasingBetaSchedule(config.max_beta, config.min_beta, config.beta_factor, config.patience,
                                      config.min_delta)
    progress = TrainingProgress()
    accelerator.register_for_checkpointing(schedule, progress)
    if config.decoder_lora_rank:
        accelerator.register_for_checkpointing(AdapterCheckpoint(decoder))
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
                         "decision", "field_accuracy", "record_accuracy"])

    vae.train()
    started = time.process_time()
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
                   "", "", "", ""]
            out_of_time = config.max_cpu_seconds and time.process_time() - started >= config.max_cpu_seconds
            if progress.step % config.eval_every == 0 or progress.step == config.max_steps or out_of_time:
                value = validation_reconstruction(vae, validation_loader or train_loader, accelerator)
                accuracy = reconstruction_accuracy(model, decoder, components.tokenizer, components.encoder_tokenizer,
                                                   schema, accuracy_texts) if accuracy_texts else None
                decision = schedule.step(value, accuracy.field_accuracy if accuracy else None)
                row[5:] = [value, decision.value, *(([accuracy.field_accuracy, accuracy.record_accuracy]
                                                     if accuracy else ["", ""]))]
                if decision is BetaDecision.IMPROVED and accelerator.is_main_process:
                    save_pretrained_atomically(model, best_dir)
                    save_decoder_adapter(decoder, output)
                    write_json_atomically(output / TRAINING_SUMMARY, {
                        "step": progress.step, "beta": schedule.beta, "val_reconstruction_per_token": value,
                        "tokens_per_record": sum(lengths) / len(lengths),
                        **(accuracy.to_dict() if accuracy else {})})
                accelerator.wait_for_everyone()
                if decision is BetaDecision.DECREASE and best_dir.exists():
                    model.load_state_dict(LatentVAEModel.from_pretrained(best_dir).state_dict())
                    if config.decoder_lora_rank:
                        restore_decoder_adapter(decoder, output)
                stop = decision is BetaDecision.STOP or bool(out_of_time)
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
        save_decoder_adapter(decoder, output)
    accelerator.wait_for_everyone()
    best = LatentVAEModel.from_pretrained(best_dir)
    if config.decoder_lora_rank:
        restore_decoder_adapter(decoder, output)
    best.attach_decoder(decoder)
    return best
