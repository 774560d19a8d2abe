"""Stage 2: learn the latent prior. Encode the training records with the trained VAE (posterior means),
standardise, train the MLP denoiser with the EDM loss (data-parallel under accelerate, checkpointed and resumable),
keep the best exponential moving average of its weights, and save the complete pipeline."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from diffusers import EDMDPMSolverMultistepScheduler
from diffusers.training_utils import EMAModel
from torch import nn
from tqdm.auto import tqdm

from ..data import tokenize_records
from ..data.condition_encoder import ConditionEncoder
from ..atomic_saving import save_pretrained_atomically, write_json_atomically
from ..modeling import LatentDenoiserMLP
from ..pipelines import LatentDiffusionLMPipeline
from ..privacy import PrivacyGuard
from .checkpointing import read_extra_tensors, read_training_state, resolve_checkpoint, save_atomically
from .field_accuracy import TRAINING_SUMMARY
from .config_flags import DIFFUSION_FLAGS
from .option_checks import MIXED_PRECISION, FitShape, check_diffusion_options, check_options_apply, options_set
from .time_budget import UNLIMITED_STEPS, Deadline, resolve_mixed_precision
from .vae_training import TrainedVAE

# The fitted pipeline stores its VAE's encoder and its denoiser in bfloat16 (training checkpoints keep float32): the
# encoder never runs in sampling, and the denoiser's rounded weights sample within the run-to-run spread
# (scripts/bench_weight_storage.py, BENCHMARKS.md); it keeps a nested-record pipeline with a fine-tuned MiniLM under
# 100 MB (LatentVAEConfig.encoder_storage_dtype, LatentDenoiserMLP.store_weights_in).
PIPELINE_STORAGE_DTYPE = "bfloat16"


DIFFUSION_CONFIG = "diffusion_config.json"  # stage 2's options, saved in stage 1's output directory


@dataclass
class DiffusionTrainingConfig:
    """Stage 2 options; ``vae_dir`` is stage 1's ``output_dir``."""

    vae_dir: str = field(metadata={"help": "stage 1's output directory (its VAE, schema and training config)"})
    output_dir: str = field(metadata={"help": "directory for the complete pipeline (stage 2's resumable state: "
                                              "OUTPUT_DIR/training)"})
    condition_columns: list[str] | None = field(
        default=None, metadata={"help": "columns the latent prior learns to condition on (classifier-free guidance)"})
    condition_bins: int = field(default=5, metadata={"help": "quantile bins for numerical condition columns"})
    hidden_dim: int | None = field(default=None, metadata={"help": "width of the denoiser MLP (None: the preset's, "
                                                                   "256 for tiny, 1024 otherwise)"})
    num_layers: int = field(default=4, metadata={"help": "hidden layers of the denoiser MLP"})
    batch_size: int = field(default=256, metadata={"help": "latents per optimizer step (all processes together)"})
    learning_rate: float = field(default=1e-3, metadata={"help": "denoiser AdamW learning rate"})
    ema_decay: float = field(default=0.999, metadata={"help": (
        "decay of the exponential moving average of the denoiser's weights that is evaluated, kept and sampled "
        "from (diffusers' EMAModel, with warm-up; 0: the raw weights)")})
    max_steps: int | None = field(default=None, metadata={"help": "denoiser optimizer steps (None: the preset's)"})
    eval_every: int = field(default=100, metadata={"help": "steps between held-out EDM loss evaluations"})
    checkpoint_every: int = field(default=500, metadata={"help": "steps between resumable checkpoints"})
    checkpoints_total_limit: int = field(default=2, metadata={"help": "resumable checkpoints kept on disk"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    mixed_precision: str = field(default="no", metadata={"help": "mixed precision", "choices": MIXED_PRECISION})
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "'latest' or a checkpoint folder to continue stage 2 from"})
    max_seconds: float | None = field(default=None, metadata={
        "help": "stop stage 2 after this many wall-clock seconds (ldlm fit --time-budget sets it)"})
    privacy_reference: bool = field(default=False, metadata={"help": (
        "keep encoded training rows with the pipeline so that sampling with privacy='dcr' can measure distances "
        "to them (whoever gets the pipeline gets these rows); without it only hashes of the rows are stored")})
    privacy_quantile: float = field(default=5.0, metadata={"help": (
        "percentile of held-back training rows' distances to the others below which privacy='dcr' re-draws a row")})

    def __post_init__(self):
        check_diffusion_options(self)


class WeightAverage:
    """The denoiser's exponential moving average (diffusers' ``EMAModel``): what is evaluated, kept and sampled from.

    The raw weights under a constant learning rate wander around the optimum, and the sampled latents' distribution
    wanders with them; their average sits closer to it. Its shadow weights travel in checkpoints as safetensors.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.model = model
        self.ema = EMAModel(model.parameters(), decay=decay, use_ema_warmup=True, power=0.75) if decay else None

    def step(self) -> None:
        if self.ema:
            self.ema.step(self.model.parameters())

    @contextmanager
    def averaged(self):
        """The model holds the averaged weights inside the ``with`` block, its raw weights again after it."""
        if self.ema:
            self.ema.store(self.model.parameters())
            self.ema.copy_to(self.model.parameters())
        try:
            yield self.model
        finally:
            if self.ema:
                self.ema.restore(self.model.parameters())

    def tensors(self) -> dict | None:
        return {f"ema.{i}": p for i, p in enumerate(self.ema.shadow_params)} if self.ema else None

    def state(self) -> dict:
        return {"ema_step": self.ema.optimization_step} if self.ema else {}

    def load(self, tensors: dict, state: dict) -> None:
        if self.ema:
            self.ema.shadow_params = [tensors[f"ema.{i}"].to(p.device) for i, p in enumerate(self.ema.shadow_params)]
            self.ema.optimization_step = state["ema_step"]


class EDMObjective(nn.Module):
    """The denoiser's EDM loss as a module's forward: calling it through the prepared (DDP) wrapper is what makes
    accelerate all-reduce the gradients across processes."""

    def __init__(self, denoiser: LatentDenoiserMLP):
        super().__init__()
        self.denoiser = denoiser

    def forward(self, latents, condition=None, noise=None):
        return self.denoiser.edm_loss(latents, condition, noise=noise)


def global_batch(denoiser: LatentDenoiserMLP, num_latents: int, batch_size: int, seed: int, step: int):
    """Indices and noise of one step's global batch: a function of (seed, step) only, so every process agrees on
    it (each then takes its own shard) and a resumed run draws exactly what the straight run drew."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    index = torch.randint(0, num_latents, (batch_size,), generator=generator)
    return index, denoiser.edm_noise(batch_size, generator)


def decoding_budget(texts: list[str], tokenizer) -> int:
    """``max_new_tokens`` covering any valid record.

    Under the grammar the LM may spell a record in more tokens than its canonical tokenization, and a record cut
    short is invalid. Most tokens hold at least one character, so the longest record's length in characters (with
    room for longer valid values) bounds the count.
    """
    longest_tokens = max(len(ids) for ids in tokenize_records(texts, tokenizer)["input_ids"])
    return max(int(longest_tokens * 1.25), int(max(map(len, texts)) * 1.5)) + 16


@dataclass
class LatentTrainingSet:
    """Stage 1's latents, normalised, with their condition indices and a fixed held-out tenth."""

    latents: torch.Tensor
    conditions: torch.LongTensor | None
    train_index: torch.LongTensor
    held_out: torch.LongTensor

    @classmethod
    def split(cls, latents, conditions, seed: int) -> "LatentTrainingSet":
        order = torch.randperm(len(latents), generator=torch.Generator().manual_seed(seed)).to(latents.device)
        held_out = order[: max(1, len(order) // 10)]
        return cls(latents, conditions, order[len(held_out):] if len(order) > 10 else order, held_out)

    def rows(self, index):
        return self.latents[index], self.conditions[index] if self.conditions is not None else None


def fit_denoiser(config: DiffusionTrainingConfig, accelerator, denoiser: LatentDenoiserMLP,
                 data: LatentTrainingSet) -> tuple[LatentDenoiserMLP, float]:
    """The EDM training loop: one global batch per step split over the processes, the held-out loss every
    ``eval_every`` steps (the best denoiser is kept), atomic checkpoints. Returns the best denoiser and its loss."""
    objective = EDMObjective(denoiser)
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=config.learning_rate)
    objective, optimizer = accelerator.prepare(objective, optimizer)
    model, device = accelerator.unwrap_model(objective).denoiser, accelerator.device
    state = Path(config.output_dir) / "training"  # kept inside the pipeline directory when it is saved
    checkpoints, best_dir = state / "diffusion-checkpoints", state / "denoiser"
    progress = {"step": 0, "best_loss": None}  # JSON: no infinity
    average = WeightAverage(model, config.ema_decay)
    if config.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(checkpoints, config.resume_from_checkpoint)
        accelerator.load_state(str(checkpoint))
        progress = read_training_state(checkpoint)
        if average.ema:
            average.load(read_extra_tensors(checkpoint), progress)

    def held_out_loss() -> float:
        fixed = torch.Generator(device=device).manual_seed(config.seed)  # same noise each time: comparable
        model.eval()
        with torch.no_grad():
            loss = model.edm_loss(*data.rows(data.held_out), fixed)
        model.train()
        return loss.item()

    bar = tqdm(total=config.max_steps if config.max_steps < UNLIMITED_STEPS else None, initial=progress["step"], desc="diffusion",
               disable=not accelerator.is_main_process)
    deadline = Deadline.share(config.max_seconds, 1.0)
    while progress["step"] < config.max_steps and not deadline.passed():
        progress["step"] += 1
        step = progress["step"]
        index, noise = global_batch(model, len(data.train_index), config.batch_size, config.seed, step)
        shard = slice(accelerator.process_index, None, accelerator.num_processes)
        loss = objective(*data.rows(data.train_index[index[shard].to(device)]), noise[shard])
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        average.step()
        bar.update(1)
        last = step == config.max_steps or deadline.passed()
        if step % config.eval_every == 0 or last:
            with average.averaged():
                value = held_out_loss()
                bar.set_postfix(held_out=f"{value:.4f}")
                if progress["best_loss"] is None or value < progress["best_loss"]:
                    progress["best_loss"] = value
                    if accelerator.is_main_process:
                        save_pretrained_atomically(model, best_dir)
        if step % config.checkpoint_every == 0 or last:
            save_atomically(accelerator, checkpoints, step, config.checkpoints_total_limit,
                            {**progress, **average.state()}, average.tensors())
    bar.close()
    accelerator.wait_for_everyone()
    best = LatentDenoiserMLP.from_pretrained(best_dir) if best_dir.exists() else model
    return best.eval().cpu(), progress["best_loss"]


def card_metadata(trained: TrainedVAE, config: DiffusionTrainingConfig, best_loss: float, summary: dict) -> dict:
    """What the model card says about the data, the training run, stage 1's reconstruction accuracy and the latent's
    gain (over writing every column's most common value; own latent against another row's)."""
    side, vae_config = trained.components.side, trained.config
    return {
        "data": f"{len(trained.frame)} training rows, {len(trained.schema.names)} columns (the data's source is not "
                "recorded).",
        "decoder": side.reference.describe(),
        **({"encoder": side.encoder_source.card_name} if side.encoder_source else {}),
        "training": {"preset": vae_config.preset,
                     "vae_steps": f"best checkpoint at step {summary['step']}" if "step" in summary else vae_config.max_steps,
                     "batch_size": vae_config.batch_size, "learning_rate": vae_config.learning_rate,
                     "beta": f"{vae_config.max_beta} -> {vae_config.min_beta} (x{vae_config.beta_factor})",
                     "diffusion_steps": ("until the time budget" if config.max_steps >= UNLIMITED_STEPS
                                         else config.max_steps), "best_denoiser_loss": round(best_loss, 4),
                     "record_format": trained.schema.record_format,
                     "decoder_lora_rank": vae_config.decoder_lora_rank,
                     "injection_method": trained.components.vae.config.injection_method,
                     **({"time_budget": vae_config.time_budget} if vae_config.time_budget else {}),
                     **{f"reconstruction {key.replace('_', ' ')}": f"{summary[key]:.1%}"
                        for key in ("field_accuracy", "record_accuracy", "most_common_accuracy", "latent_gain")
                        if key in summary},
                     **{f"validation NLL, {name}": f"{summary[key]:.3f} nats/token" for name, key in
                        (("own latent", "val_reconstruction_per_token"),
                         ("another row's latent", "val_other_latent_per_token")) if key in summary}},
    }


def train_diffusion(config: DiffusionTrainingConfig, trained: TrainedVAE | None = None) -> LatentDiffusionLMPipeline:
    """Train the denoiser on stage 1's latents and save the whole pipeline to ``output_dir``.

    ``trained`` is stage 1's result when it runs in the same process (``fit_pipeline``); otherwise stage 1 is read
    from ``vae_dir``.
    """
    accelerator = Accelerator(mixed_precision=resolve_mixed_precision(config.mixed_precision))
    if config.batch_size % accelerator.num_processes:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the {accelerator.num_processes} "
                         "processes (it is the global batch, split evenly between them).")
    set_seed(config.seed)
    trained = trained or TrainedVAE.load(config.vae_dir)
    vae, side, frame = trained.components.vae, trained.components.side, trained.frame
    check_options_apply(options_set(config), DIFFUSION_FLAGS, FitShape(
        trained.schema.has_columns, vae.config.injection_method, bool(config.condition_columns), config.privacy_reference))
    records = trained.schema.records(frame)
    texts = [trained.schema.to_text(record) for record in records]
    latents = vae.to(accelerator.device).eval().encode_texts(texts, side.tokenizer, side.encoder_tokenizer).cpu()
    models = trained.config.models  # stage 1's resolved preset
    config.max_steps = models.diffusion_steps if config.max_steps is None else config.max_steps
    config.hidden_dim = models.denoiser_hidden_dim if config.hidden_dim is None else config.hidden_dim

    conditions, encoder = None, None
    if config.condition_columns:
        encoder = ConditionEncoder.fit(frame, config.condition_columns, num_bins=config.condition_bins)
        conditions = encoder.encode_frame(frame).to(accelerator.device)
    denoiser = LatentDenoiserMLP(latent_dim=vae.config.latent_dim, hidden_dim=config.hidden_dim,
                                 num_layers=config.num_layers,
                                 condition_num_classes=encoder.num_classes if encoder else None)
    denoiser.set_latent_statistics(latents.mean(0), latents.std(0))
    data = LatentTrainingSet.split(denoiser.normalize(latents).to(accelerator.device), conditions, config.seed)
    best, best_loss = fit_denoiser(config, accelerator, denoiser, data)
    summary_path = Path(trained.config.output_dir) / TRAINING_SUMMARY
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}

    vae.config.encoder_storage_dtype = PIPELINE_STORAGE_DTYPE
    best.store_weights_in(PIPELINE_STORAGE_DTYPE)
    pipe = LatentDiffusionLMPipeline(
        vae=vae, denoiser=best, scheduler=EDMDPMSolverMultistepScheduler.from_config(best.preconditioning.config),
        decoder=side.decoder.cpu(), tokenizer=side.tokenizer, encoder_tokenizer=side.encoder_tokenizer,
        schema=trained.schema, conditioning=encoder.to_dict() if encoder else None,
        max_new_tokens=decoding_budget(texts, side.tokenizer), decoder_reference=side.reference,
        privacy_guard=PrivacyGuard.fit(trained.schema, records, keep_reference=config.privacy_reference,
                                       quantile=config.privacy_quantile, seed=config.seed),
        card_metadata=card_metadata(trained, config, best_loss, summary),
    )
    if accelerator.is_main_process:
        save_pretrained_atomically(pipe, config.output_dir)
        # stage 2's options beside stage 1's training_config.json; where the run's folders were is not recorded
        write_json_atomically(Path(config.vae_dir) / DIFFUSION_CONFIG,
                              {**asdict(config), "vae_dir": None, "output_dir": None})
        if summary:
            write_json_atomically(Path(config.output_dir) / TRAINING_SUMMARY, summary)
    return pipe
