"""Model classes: the latent VAE (a transformers model) and the latent denoiser (a diffusers model)."""

from .configuration_latent_vae import INJECTION_METHODS, LatentVAEConfig
from .latent_denoiser import LatentDenoiserMLP, LatentDenoiserOutput
from .injector_lora import injector_lora_config
from .latent_injectors import EmbeddingInjector, LatentInjector, MemoryInjector, SoftPromptInjector
from .modeling_latent_vae import DecoderMismatchError, LatentVAEModel, LatentVAEOutput

__all__ = [
    "INJECTION_METHODS",
    "DecoderMismatchError",
    "EmbeddingInjector",
    "LatentDenoiserMLP",
    "LatentDenoiserOutput",
    "LatentInjector",
    "LatentVAEConfig",
    "LatentVAEModel",
    "LatentVAEOutput",
    "MemoryInjector",
    "SoftPromptInjector",
    "injector_lora_config",
]
