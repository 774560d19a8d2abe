"""The diffusers pipeline that chains the latent prior, the VAE's injector and the frozen LM."""

from .latent_text_generation_task import LatentTextGenerationPipeline
from .pipeline_latent_diffusion_lm import LatentDiffusionLMPipeline, LatentDiffusionLMPipelineOutput

__all__ = ["LatentDiffusionLMPipeline", "LatentDiffusionLMPipelineOutput", "LatentTextGenerationPipeline"]
