"""A UNet-free MLP denoiser for 1-D latents, with EDM preconditioning left to diffusers' EDM schedulers.

The network is EDM's raw ``F_theta(c_in * x, c_noise)``; ``EDMEulerScheduler`` / ``EDMDPMSolverMultistepScheduler``
(``prediction_type="epsilon"``) apply ``c_in``, ``c_noise`` and ``c_skip``/``c_out`` at sampling time, and
:meth:`edm_loss` calls the same scheduler methods in training, so the two cannot drift apart. Latents are standardised before diffusion; the statistics are buffers,
so they travel in the same safetensors file as the weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from diffusers import EDMDPMSolverMultistepScheduler
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn


@dataclass
class LatentDenoiserOutput(BaseOutput):
    """``sample``: the network output ``F_theta`` (the scheduler turns it into a denoised latent)."""

    sample: torch.Tensor


def sinusoidal_embedding(values: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer-style sinusoidal features of a scalar per row (here EDM's ``c_noise = ln(sigma) / 4``)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=values.device) / half)
    angles = values.float()[:, None] * frequencies[None] * 1000.0
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


@dataclass
class EDMNoise:
    """The random draws of one EDM loss evaluation: ``ln sigma`` normals, the added noise, condition-dropout draws."""

    normal: torch.Tensor
    epsilon: torch.Tensor
    dropout: torch.Tensor

    def __getitem__(self, index) -> "EDMNoise":
        return EDMNoise(self.normal[index], self.epsilon[index], self.dropout[index])

    def to(self, device, dtype) -> "EDMNoise":
        return EDMNoise(self.normal.to(device, dtype), self.epsilon.to(device, dtype), self.dropout.to(device))


class LatentDenoiserMLP(ModelMixin, ConfigMixin):
    r"""MLP denoiser for latents of shape ``(batch, latent_dim)`` (TabSyn's MLPDiffusion, residual, SiLU).

    Args:
        latent_dim (`int`, defaults to 64): size of the latent.
        hidden_dim (`int`, defaults to 1024): width of the hidden layers.
        num_layers (`int`, defaults to 4): residual SiLU blocks.
        noise_embedding_dim (`int`, defaults to 128): sinusoidal features of the noise level.
        sigma_data (`float`, defaults to 0.5): EDM's data standard deviation; must equal the scheduler's.
        condition_num_classes (`list[int]`, *optional*): one entry per conditioning column, its number of
            values; index ``n`` of column ``i`` (``n = condition_num_classes[i]``) means "no condition" and is what
            condition dropout trains, enabling classifier-free guidance.
        condition_dropout (`float`, defaults to 0.1): probability of dropping each condition in :meth:`edm_loss`.
        p_mean, p_std (`float`): EDM's training noise distribution ``ln(sigma) ~ N(p_mean, p_std^2)``.
        storage_dtype (`str`, *optional*): the dtype ``save_pretrained`` stores the weights in (e.g.
            ``"bfloat16"``: half the file); they load back into float32 parameters. The latent statistics stay
            float32. Set it with :meth:`store_weights_in`, which rounds the weights in memory too.
    """

    @register_to_config
    def __init__(
        self,
        latent_dim: int = 64,
        hidden_dim: int = 1024,
        num_layers: int = 4,
        noise_embedding_dim: int = 128,
        sigma_data: float = 0.5,
        condition_num_classes: list[int] | None = None,
        condition_dropout: float = 0.1,
        p_mean: float = -1.2,
        p_std: float = 1.2,
        storage_dtype: str | None = None,
    ):
        super().__init__()
        self.input_proj = nn.Linear(latent_dim, hidden_dim)
        self.noise_mlp = nn.Sequential(
            nn.Linear(noise_embedding_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim)
        )
        self.condition_embeddings = nn.ModuleList(
            nn.Embedding(num_classes + 1, hidden_dim) for num_classes in (condition_num_classes or [])
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden_dim), nn.Linear(hidden_dim, hidden_dim), nn.SiLU(),
                          nn.Linear(hidden_dim, hidden_dim))
            for _ in range(num_layers)
        )
        self.output = nn.Sequential(nn.LayerNorm(hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, latent_dim))
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_std", torch.ones(latent_dim))
        # EDM's preconditioning as the sampling scheduler applies it (pipelines check its sigma_data equals ours)
        self.preconditioning = EDMDPMSolverMultistepScheduler(sigma_data=sigma_data)

    # -- storage ------------------------------------------------------------------------------------------
    def store_weights_in(self, dtype: str) -> None:
        """Save the weights in ``dtype`` from now on, and round them to it in memory: the model samples as its saved
        copy will (training checkpoints, saved by state dict, keep float32)."""
        stored = getattr(torch, dtype)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(parameter.to(stored))
        self.register_to_config(storage_dtype=dtype)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """``ModelMixin.save_pretrained``, the weights in ``config.storage_dtype`` when it is set."""
        if self.config.storage_dtype is None:
            return super().save_pretrained(save_directory, *args, **kwargs)
        kept = [(parameter, parameter.data) for parameter in self.parameters()]
        for parameter, data in kept:
            parameter.data = data.to(getattr(torch, self.config.storage_dtype))
        try:
            return super().save_pretrained(save_directory, *args, **kwargs)
        finally:
            for parameter, data in kept:
                parameter.data = data

    # -- latent statistics ----------------------------------------------------------------------------------
    def set_latent_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the per-dimension statistics used by :meth:`normalize` / :meth:`denormalize`."""
        self.latent_mean.copy_(torch.as_tensor(mean, dtype=self.latent_mean.dtype))
        self.latent_std.copy_(torch.as_tensor(std, dtype=self.latent_std.dtype).clamp(min=1e-6))

    def normalize(self, latents: torch.Tensor) -> torch.Tensor:
        return (latents - self.latent_mean.to(latents.dtype)) / self.latent_std.to(latents.dtype)

    def denormalize(self, latents: torch.Tensor) -> torch.Tensor:
        return latents * self.latent_std.to(latents.dtype) + self.latent_mean.to(latents.dtype)

    # -- conditions -----------------------------------------------------------------------------------------
    @property
    def num_condition_columns(self) -> int:
        return len(self.condition_embeddings)

    def null_condition(self, batch_size: int) -> torch.LongTensor | None:
        """The "no condition" indices for every column (what classifier-free guidance contrasts against)."""
        if not self.num_condition_columns:
            return None
        nulls = torch.tensor(self.config.condition_num_classes, device=self.device, dtype=torch.long)
        return nulls.expand(batch_size, -1).clone()

    def _condition_embedding(self, condition: torch.LongTensor | None, batch_size: int) -> torch.Tensor | float:
        if not self.num_condition_columns:
            return 0.0
        if condition is None:
            condition = self.null_condition(batch_size)
        if condition.shape != (batch_size, self.num_condition_columns):
            raise ValueError(
                f"condition must have shape ({batch_size}, {self.num_condition_columns}), got {tuple(condition.shape)}."
            )
        return sum(embedding(condition[:, i]) for i, embedding in enumerate(self.condition_embeddings))

    # -- network --------------------------------------------------------------------------------------------
    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float,
        condition: torch.LongTensor | None = None,
        return_dict: bool = True,
    ) -> LatentDenoiserOutput | tuple:
        """``F_theta`` at input ``sample`` (already scaled by ``c_in``) and ``timestep = c_noise = ln(sigma)/4``."""
        if sample.ndim != 2 or sample.shape[1] != self.config.latent_dim:
            raise ValueError(f"sample must have shape (batch, {self.config.latent_dim}), got {tuple(sample.shape)}.")
        timestep = torch.as_tensor(timestep, device=sample.device).reshape(-1)
        if len(timestep) != 1:  # one noise level per row (training); sampling has one per step, embedded once
            timestep = timestep.expand(sample.shape[0])
        noise = self.noise_mlp(sinusoidal_embedding(timestep, self.config.noise_embedding_dim).to(sample.dtype))
        hidden = self.input_proj(sample) + noise + self._condition_embedding(condition, sample.shape[0])
        for block in self.blocks:
            hidden = hidden + block(hidden)
        output = self.output(hidden)
        return LatentDenoiserOutput(sample=output) if return_dict else (output,)

    def edm_noise(self, batch_size: int, generator: torch.Generator | None = None) -> EDMNoise:
        """The random draws of :meth:`edm_loss` for a batch, on this model's device."""
        device = generator.device if generator is not None else self.device
        return EDMNoise(
            normal=torch.randn(batch_size, generator=generator, device=device),
            epsilon=torch.randn(batch_size, self.config.latent_dim, generator=generator, device=device),
            dropout=torch.rand(batch_size, self.num_condition_columns, generator=generator, device=device),
        )

    def edm_loss(
        self,
        latents: torch.Tensor,
        condition: torch.LongTensor | None = None,
        generator: torch.Generator | None = None,
        noise: EDMNoise | None = None,
    ) -> torch.Tensor:
        """EDM training loss on normalised latents (Karras et al. 2022, Table 1), with condition dropout.

        The weighted denoising error ``lambda(sigma) * |D(x) - x0|^2`` with EDM's ``lambda = 1 / c_out^2``, ``D`` the
        scheduler's preconditioned denoiser. ``noise`` (from :meth:`edm_noise`) fixes the random draws, e.g. to
        split one global batch over processes; otherwise they come from ``generator``.
        """
        batch, sigma_data, edm = latents.shape[0], self.config.sigma_data, self.preconditioning
        noise = (noise or self.edm_noise(batch, generator)).to(latents.device, latents.dtype)
        sigma = torch.exp(self.config.p_mean + self.config.p_std * noise.normal)[:, None]
        noisy = latents + sigma * noise.epsilon
        if condition is not None and self.config.condition_dropout > 0:
            drop = noise.dropout < self.config.condition_dropout
            condition = torch.where(drop, self.null_condition(batch), condition)
        output = self(edm.precondition_inputs(noisy, sigma), edm.precondition_noise(sigma).squeeze(1),
                      condition=condition).sample
        weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
        return (weight * (edm.precondition_outputs(noisy, output, sigma) - latents).pow(2)).mean()
