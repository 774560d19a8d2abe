"""The diffusers pipeline that chains the latent prior, the VAE's injector and the frozen LM."""

from .latent_text_generation_task import LatentTextGenerationPipeline
from .pipeline_latent_diffusion_lm import LatentDiffusionLMPipeline, LatentDiffusionLMPipelineOutput
from .sampling_options import Conditions, DecodingOptions, Privacy

__all__ = ["Conditions", "DecodingOptions", "LatentDiffusionLMPipeline", "LatentDiffusionLMPipelineOutput",
           "LatentTextGenerationPipeline", "Privacy"]
