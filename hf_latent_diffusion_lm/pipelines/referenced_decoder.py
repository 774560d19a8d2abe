"""The pipeline's ``decoder/`` folder: a reference to the frozen base model, a PEFT adapter trained on top of it if
any, and the base weights themselves only when asked (``save_pretrained(..., save_decoder=True)``, air-gapped use).

diffusers loads each component through the ``from_pretrained`` of the class named in ``model_index.json`` and
only accepts classes it recognises (here: a transformers ``PreTrainedModel``); :class:`ReferencedDecoder` is that
entry point. It is never instantiated: its ``from_pretrained`` resolves the reference and returns the real model.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel

from ..decoder_reference import DecoderReference, base_model

REFERENCE_FILE = "reference.json"


def save_decoder_folder(decoder, reference: DecoderReference, folder: str | os.PathLike,
                        copy_weights: bool = False) -> None:
    """Write ``reference.json``, the PEFT adapter (``adapter/``) of a PEFT-wrapped ``decoder``, and with
    ``copy_weights`` the base model's weights, so the folder loads without the Hub or the mirror package."""
    from ..modeling.decoder_adapter import save_decoder_adapter  # peft: imported when used
    from ..pretrained import plain_copy

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    reference.save(folder / REFERENCE_FILE)
    if copy_weights:
        base = base_model(decoder)
        weights = {name.replace(".base_layer", ""): tensor for name, tensor in base.state_dict().items()
                   if "lora_" not in name}
        plain_copy(base, weights).save_pretrained(folder)
    save_decoder_adapter(decoder, folder, base_name=reference.name_or_path)


class ReferencedDecoder(PreTrainedModel):
    """diffusers' loading entry for a decoder saved by reference (see the module docstring)."""

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, dtype=None, torch_dtype=None, **kwargs):
        """The frozen decoder described by ``folder``: its saved copy if present, else the resolved reference;
        with its PEFT adapter applied when one was saved."""
        from ..modeling.decoder_adapter import load_decoder_adapter  # peft: imported when used
        from ..pretrained import load_decoder

        folder = Path(folder)
        reference = DecoderReference.load(folder / REFERENCE_FILE)
        dtype = dtype or torch_dtype or getattr(torch, reference.dtype)
        if (folder / "config.json").exists():
            decoder = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
            decoder.config._name_or_path = reference.name_or_path
        else:
            decoder = load_decoder(reference, dtype)
        return load_decoder_adapter(decoder, folder).eval()
