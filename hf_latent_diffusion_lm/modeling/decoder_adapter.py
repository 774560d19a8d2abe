"""A LoRA adapter on the frozen decoder (PEFT): a few trained weights that help a record come back exactly.

The base decoder stays frozen and can be shared by many pipelines; only the adapter is trained (jointly with the
VAE in stage 1). One format and one folder name everywhere: a standard PEFT folder ``adapter/`` that names its base
model by Hub id (``PeftModel.from_pretrained(base, folder)`` reads it), beside the best VAE in training and under
``decoder/`` in a saved pipeline (see ``pipelines/referenced_decoder.py``).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
from safetensors.torch import load_file

from ..atomic_saving import save_pretrained_atomically

ADAPTER_FOLDER = "adapter"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def add_decoder_lora(decoder, rank: int) -> PeftModel:
    """``decoder`` with rank-``rank`` LoRA adapters on every linear layer (the LM head excepted); only the adapter
    trains. ``lora_alpha = rank`` keeps the adapter's scale at 1 whatever the rank; no dropout, so the decoder
    behaves the same in train and eval mode."""
    if rank < 1:
        raise ValueError(f"The LoRA rank must be at least 1, got {rank}.")
    config = LoraConfig(r=rank, lora_alpha=rank, lora_dropout=0.0, target_modules="all-linear", bias="none",
                        task_type="CAUSAL_LM")
    return get_peft_model(decoder, config)


def adapter_parameters(decoder) -> list[torch.nn.Parameter]:
    """The adapter's weights, made trainable (attaching the decoder to a VAE freezes every weight it has)."""
    parameters = [p for name, p in decoder.named_parameters() if "lora_" in name]
    for parameter in parameters:
        parameter.requires_grad_(True)
    return parameters


def save_decoder_adapter(decoder, directory: str | os.PathLike, base_name: str | None = None) -> None:
    """Write ``directory/adapter`` (adapter weights and config only) when ``decoder`` carries an adapter; its config
    names ``base_name`` (a Hub id) as the base model rather than a path on this machine."""
    if isinstance(decoder, PeftModel):
        if base_name:
            for config in decoder.peft_config.values():
                config.base_model_name_or_path = base_name
        save_pretrained_atomically(decoder, Path(directory) / ADAPTER_FOLDER)


def load_decoder_adapter(base_decoder, directory: str | os.PathLike):
    """``base_decoder`` with the adapter saved under ``directory`` applied (frozen), or unchanged when there is none."""
    folder = Path(directory) / ADAPTER_FOLDER
    if not folder.is_dir():
        return base_decoder
    return PeftModel.from_pretrained(base_decoder, folder)


def restore_decoder_adapter(decoder: PeftModel, directory: str | os.PathLike) -> None:
    """Load the adapter weights saved under ``directory`` into ``decoder`` in place (training backtracks to them)."""
    set_peft_model_state_dict(decoder, load_file(Path(directory) / ADAPTER_FOLDER / ADAPTER_WEIGHTS))


@contextmanager
def merged_adapter(decoder) -> Iterator[None]:
    """Within the block a decoder with a LoRA adapter runs with the adapter folded into its base weights: one matmul
    per linear layer instead of three (base, A, B). Sampling the Adult pipeline (4 layers, rank 16) on a CPU spent
    most of its step time in those linear calls. On exit the adapter is unfolded and the base weights are restored
    bit for bit (unmerging alone would leave rounding behind)."""
    if not isinstance(decoder, PeftModel) or decoder.training:
        yield
        return
    bases = [module.get_base_layer() for module in decoder.modules() if hasattr(module, "lora_A")]
    originals = [base.weight.detach().clone() for base in bases]
    decoder.merge_adapter()
    try:
        yield
    finally:
        decoder.unmerge_adapter()
        with torch.no_grad():
            for base, original in zip(bases, originals):
                base.weight.copy_(original)
