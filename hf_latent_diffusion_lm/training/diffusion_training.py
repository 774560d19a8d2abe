"""Stage 2: learn the latent prior. Encode the training records with the trained VAE (posterior means),
standardise, train the MLP denoiser with the EDM loss, keep the best, and save the complete pipeline."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from diffusers import EDMDPMSolverMultistepScheduler
from tqdm.auto import tqdm

from ..data import tokenize_records
from ..data.condition_encoder import ConditionEncoder
from ..data.record_schemas import load_schema
from ..modeling import LatentDenoiserMLP, LatentVAEModel
from ..pipelines import LatentDiffusionLMPipeline
from .checkpointing import save_pretrained_atomically
from .vae_training import VAETrainingConfig, load_training_table, vae_components


@dataclass
class DiffusionTrainingConfig:
    """Stage 2 options; ``vae_dir`` is stage 1's ``output_dir``."""

    vae_dir: str
    output_dir: str
    condition_columns: list[str] | None = None
    condition_bins: int = 5
    hidden_dim: int = 1024
    num_layers: int = 4
    batch_size: int = 256
    learning_rate: float = 1e-3
    max_steps: int = 3000
    eval_every: int = 100
    seed: int = 0
    mixed_precision: str = "no"


def train_diffusion(config: DiffusionTrainingConfig) -> LatentDiffusionLMPipeline:
    """Train the denoiser on stage 1's latents and save the whole pipeline to ``output_dir``."""
    accelerator = Accelerator(mixed_precision=config.mixed_precision)
    set_seed(config.seed)
    stage1 = Path(config.vae_dir)
    vae_config = VAETrainingConfig(**json.loads((stage1 / "training_config.json").read_text()))
    schema = load_schema(stage1 / "schema.json")
    frame = load_training_table(vae_config)
    if config.condition_columns and isinstance(frame, list):
        raise ValueError("condition_columns need a flat table; nested JSON records cannot condition the prior yet.")
    components = vae_components(vae_config)
    vae = LatentVAEModel.from_pretrained(stage1 / "vae")
    vae.attach_decoder(components.decoder)
    records = schema.records(frame)
    texts = [schema.to_text(record) for record in records]
    latents = vae.to(accelerator.device).eval().encode_texts(texts, components.tokenizer,
                                                            components.encoder_tokenizer).cpu()

    conditions, encoder = None, None
    if config.condition_columns:
        encoder = ConditionEncoder.fit(frame, config.condition_columns, num_bins=config.condition_bins)
        conditions = encoder.encode_frame(frame)
    denoiser = LatentDenoiserMLP(latent_dim=vae.config.latent_dim, hidden_dim=config.hidden_dim,
                                 num_layers=config.num_layers,
                                 condition_num_classes=encoder.num_classes if encoder else None)
    denoiser.set_latent_statistics(latents.mean(0), latents.std(0))
    normalized = denoiser.normalize(latents)

    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(normalized), generator=generator)
    held_out = order[: max(1, len(order) // 10)]
    train_index = order[len(held_out):] if len(order) > 10 else order
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=config.learning_rate)
    denoiser, optimizer = accelerator.prepare(denoiser, optimizer)
    device = accelerator.device
    normalized = normalized.to(device)
    conditions = conditions.to(device) if conditions is not None else None

    def held_out_loss() -> float:
        fixed = torch.Generator(device=device).manual_seed(config.seed)  # same noise each time: comparable
        model = accelerator.unwrap_model(denoiser).eval()
        with torch.no_grad():
            loss = model.edm_loss(normalized[held_out.to(device)],
                                  conditions[held_out.to(device)] if conditions is not None else None, fixed)
        model.train()
        return loss.item()

    best_loss, best_state = float("inf"), None
    for step in tqdm(range(1, config.max_steps + 1), desc="diffusion", disable=not accelerator.is_main_process):
        index = train_index[torch.randint(0, len(train_index), (config.batch_size,), generator=generator)].to(device)
        loss = accelerator.unwrap_model(denoiser).edm_loss(
            normalized[index], conditions[index] if conditions is not None else None)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        if step % config.eval_every == 0 or step == config.max_steps:
            value = held_out_loss()
            if value < best_loss:
                best_loss, best_state = value, copy.deepcopy(accelerator.unwrap_model(denoiser).state_dict())
    model = accelerator.unwrap_model(denoiser)
    model.load_state_dict(best_state)

    sources = {"encoder": components.encoder_source, "decoder": components.decoder_source}
    # The decoding budget must cover any valid record: under the grammar the LM may spell a record in more tokens
    # than its canonical tokenization, and a record cut short is invalid. Most tokens hold at least one character,
    # so the longest record's length in characters (with room for longer valid values) bounds the count.
    longest_tokens = max(len(ids) for ids in tokenize_records(texts, components.tokenizer)["input_ids"])
    budget = max(int(longest_tokens * 1.25), int(max(map(len, texts)) * 1.5)) + 16
    pipe = LatentDiffusionLMPipeline(
        vae=vae, denoiser=model.eval().cpu(), scheduler=EDMDPMSolverMultistepScheduler(),
        decoder=components.decoder.cpu(), tokenizer=components.tokenizer,
        encoder_tokenizer=components.encoder_tokenizer, schema=schema,
        conditioning=encoder.to_dict() if encoder else None, max_new_tokens=budget,
        card_metadata={
            "data": f"{len(frame)} rows of `{Path(vae_config.data).name}` ({len(schema.names)} columns).",
            **{role: source.card_name for role, source in sources.items() if source is not None},
            "base_model": [source.hub_repo for source in sources.values() if source is not None and source.hub_repo],
            "training": {"preset": vae_config.preset, "vae_steps": vae_config.max_steps,
                         "batch_size": vae_config.batch_size, "learning_rate": vae_config.learning_rate,
                         "beta": f"{vae_config.max_beta} -> {vae_config.min_beta} (x{vae_config.beta_factor})",
                         "diffusion_steps": config.max_steps, "best_denoiser_loss": round(best_loss, 4)},
        },
    )
    if accelerator.is_main_process:
        save_pretrained_atomically(pipe, config.output_dir)
    return pipe
