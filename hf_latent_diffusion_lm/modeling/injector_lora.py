"""LoRA adapters on the latent injector with ``peft``: tune how latents steer the LM without touching the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peft import LoraConfig

INJECTOR_LINEAR_LAYERS = r".*injector\.mlp\.[02]"  # the two Linear layers around the SiLU


def injector_lora_config(r: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.0, **kwargs) -> LoraConfig:
    """A ``LoraConfig`` targeting every linear layer of the VAE's injector (use with ``peft.get_peft_model(vae, ...)``).

    The frozen decoder is not a submodule of the VAE, so adapters never reach it; to adapt the decoder too, wrap
    ``pipe.decoder`` with its own ``LoraConfig``.
    """
    from peft import LoraConfig  # imported here: loading the models should not pay for peft

    return LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=INJECTOR_LINEAR_LAYERS,
                      **kwargs)
