"""Configuration of the latent VAE: the encoder, the posterior head, the injector and the frozen decoder it targets."""

from __future__ import annotations

import json
from typing import Any

import torch
from transformers import PretrainedConfig

INJECTION_METHODS = ("soft_prompt", "memory", "embedding", "field")
POOLING_METHODS = ("mean", "first")


class LatentVAEConfig(PretrainedConfig):
    r"""Configuration for :class:`LatentVAEModel`.

    The frozen causal LM is *referenced*, never stored: ``decoder_name_or_path`` (plus ``decoder_gguf_file`` for a
    GGUF checkpoint) says where to load it from, and the ``decoder_*`` sizes let the injector be built, and checked,
    without loading it.

    Args:
        encoder_config (`dict`, *optional*):
            A transformers encoder config as a dict (with its ``model_type``), e.g. ``BertConfig(...).to_dict()``.
        encoder_name_or_path (`str`, *optional*):
            Where the encoder's pretrained weights came from (informational once the VAE is trained; use
            :meth:`LatentVAEModel.from_encoder_pretrained` to start from them).
        pooling (`str`, defaults to `"mean"`): ``"mean"`` over non-padded tokens or ``"first"`` token.
        latent_dim (`int`, defaults to 64): size of the latent ``z``.
        injection_method (`str`, defaults to `"soft_prompt"`): ``"soft_prompt"``, ``"memory"`` or ``"embedding"``.
        num_soft_tokens (`int`, defaults to 16): prefix length for ``soft_prompt`` and ``memory``.
        injector_hidden_size (`int`, defaults to 512): width of the injector's MLP.
        decoder_name_or_path (`str`, *optional*): path or Hub id of the frozen ``AutoModelForCausalLM``.
        decoder_gguf_file (`str`, *optional*): GGUF file inside ``decoder_name_or_path``.
        decoder_hidden_size, decoder_num_layers, decoder_num_kv_heads, decoder_head_dim (`int`):
            the decoder's sizes; fill them with :meth:`for_decoder`.
        logvar_clamp (`float`, defaults to 10.0): ``logvar`` is clamped to ``[-c, c]`` for numerical safety.
        initial_logvar (`float`, defaults to -6.0): initial bias of the posterior's ``logvar``; a narrow start
            keeps the sampling noise from drowning the small early differences between records.
        field_codec (`dict`, *optional*): a table's fields as :class:`~..data.field_codes.FieldCodec` stores them;
            when set, the encoder is a :class:`~.table_encoder.TableEncoder` over them instead of a text encoder.
        field_vocabulary (`list[int]`, *optional*): the decoder tokens the training records use (the ``field``
            injector's output vocabulary).
        field_positions (`int`, defaults to 12): positions within a field the ``field`` injector tells apart.
        field_hidden_size (`int`, defaults to 256): width of the ``field`` injector's per-position state.
        encoder_storage_dtype (`str`, *optional*): the dtype ``save_pretrained`` stores the encoder's weights in
            (``None``: as they are); they load back in the model's dtype. A fitted pipeline stores ``"bfloat16"``:
            the encoder never runs in sampling (only in ``encode``), and a fine-tuned MiniLM in float32 is 90 MB.
    """

    model_type = "latent_vae"

    def __init__(
        self,
        encoder_config: dict[str, Any] | None = None,
        encoder_name_or_path: str | None = None,
        pooling: str = "mean",
        latent_dim: int = 64,
        injection_method: str = "soft_prompt",
        num_soft_tokens: int = 16,
        injector_hidden_size: int = 512,
        decoder_name_or_path: str | None = None,
        decoder_gguf_file: str | None = None,
        decoder_hidden_size: int | None = None,
        decoder_num_layers: int | None = None,
        decoder_num_kv_heads: int | None = None,
        decoder_head_dim: int | None = None,
        logvar_clamp: float = 10.0,
        initial_logvar: float = -6.0,
        field_codec: dict | None = None,
        field_vocabulary: list[int] | None = None,
        field_positions: int = 12,
        field_hidden_size: int = 256,
        encoder_storage_dtype: str | None = None,
        **kwargs,
    ):
        if injection_method not in INJECTION_METHODS:
            raise ValueError(
                f"Unknown injection_method {injection_method!r}; choose one of {', '.join(INJECTION_METHODS)}."
            )
        if pooling not in POOLING_METHODS:
            raise ValueError(f"Unknown pooling {pooling!r}; choose one of {', '.join(POOLING_METHODS)}.")
        if latent_dim < 1 or num_soft_tokens < 1:
            raise ValueError("latent_dim and num_soft_tokens must be positive integers.")
        # Stored as its JSON form so that a saved and reloaded config compares equal (JSON keys are strings).
        self.encoder_config = json.loads(json.dumps(encoder_config)) if encoder_config is not None else None
        self.encoder_name_or_path = encoder_name_or_path
        self.pooling = pooling
        self.latent_dim = latent_dim
        self.injection_method = injection_method
        self.num_soft_tokens = num_soft_tokens
        self.injector_hidden_size = injector_hidden_size
        self.decoder_name_or_path = decoder_name_or_path
        self.decoder_gguf_file = decoder_gguf_file
        self.decoder_hidden_size = decoder_hidden_size
        self.decoder_num_layers = decoder_num_layers
        self.decoder_num_kv_heads = decoder_num_kv_heads
        self.decoder_head_dim = decoder_head_dim
        self.logvar_clamp = logvar_clamp
        self.initial_logvar = initial_logvar
        self.field_codec = field_codec
        self.field_vocabulary = list(field_vocabulary) if field_vocabulary is not None else None
        self.field_positions = field_positions
        self.field_hidden_size = field_hidden_size
        if encoder_storage_dtype is not None and not isinstance(getattr(torch, encoder_storage_dtype, None),
                                                                torch.dtype):
            raise ValueError(f"encoder_storage_dtype must name a torch dtype, got {encoder_storage_dtype!r}.")
        self.encoder_storage_dtype = encoder_storage_dtype
        super().__init__(**kwargs)

    @classmethod
    def for_decoder(cls, decoder_config: PretrainedConfig, **kwargs) -> "LatentVAEConfig":
        """A config whose ``decoder_*`` sizes are read off the decoder's own config."""
        text_config = decoder_config.get_text_config() if hasattr(decoder_config, "get_text_config") else decoder_config
        num_heads = text_config.num_attention_heads
        kwargs.setdefault("decoder_name_or_path", getattr(decoder_config, "_name_or_path", None) or None)
        return cls(
            decoder_hidden_size=text_config.hidden_size,
            decoder_num_layers=text_config.num_hidden_layers,
            decoder_num_kv_heads=getattr(text_config, "num_key_value_heads", None) or num_heads,
            decoder_head_dim=getattr(text_config, "head_dim", None) or text_config.hidden_size // num_heads,
            **kwargs,
        )
