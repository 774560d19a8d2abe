"""hf-latent-diffusion-lm: synthetic structured data from a latent-diffusion language model (DiffLM).

Importing the package registers its classes with the libraries it plugs into: ``AutoConfig``/``AutoModel``
know ``latent_vae``, and ``DiffusionPipeline.from_pretrained`` finds ``LatentDiffusionLMPipeline`` (diffusers
looks pipeline classes up by name in its own namespace), so no ``trust_remote_code`` is needed.
"""

import diffusers
from transformers import AutoConfig, AutoModel

from .modeling import (
    INJECTION_METHODS,
    DecoderMismatchError,
    LatentDenoiserMLP,
    LatentDenoiserOutput,
    LatentVAEConfig,
    LatentVAEModel,
    LatentVAEOutput,
)
from .pipelines import Conditions, DecodingOptions, LatentDiffusionLMPipeline, LatentDiffusionLMPipelineOutput, Privacy
from .privacy import PrivacyGuard

__version__ = "0.1.0"

AutoConfig.register(LatentVAEConfig.model_type, LatentVAEConfig, exist_ok=True)
AutoModel.register(LatentVAEConfig, LatentVAEModel, exist_ok=True)
setattr(diffusers, LatentDiffusionLMPipeline.__name__, LatentDiffusionLMPipeline)

__all__ = [
    "INJECTION_METHODS",
    "Conditions",
    "DecodingOptions",
    "DecoderMismatchError",
    "LatentDenoiserMLP",
    "LatentDenoiserOutput",
    "LatentDiffusionLMPipeline",
    "LatentDiffusionLMPipelineOutput",
    "LatentVAEConfig",
    "LatentVAEModel",
    "LatentVAEOutput",
    "Privacy",
    "PrivacyGuard",
]
