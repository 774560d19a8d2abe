"""The latent VAE: a trainable encoder and posterior head, and an injector into a frozen causal LM.

The VAE does not hold the frozen decoder: the pipeline (or the training loop) owns it and passes it to the methods
that need it (``forward``, :meth:`LatentVAEModel.reconstruction_nll`, :meth:`LatentVAEModel.generate`). So it never
appears in ``state_dict()``, ``parameters()`` or the checkpoint, optimizers built from ``vae.parameters()`` cannot
touch it, and swapping the pipeline's decoder cannot leave a stale copy behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers.utils import ModelOutput

from ..decoder_reference import DecoderMismatchError, base_model
from .configuration_latent_vae import LatentVAEConfig
from ..data.field_codes import FieldCodec
from .latent_injectors import DECODER_SIZES, FieldInjector, build_injector
from .table_encoder import TableEncoder

# The field injector's first embedding offsets are this small next to a token embedding: the LM starts unchanged.
FIELD_EMBEDDING_INIT_STD = 0.002

# How each decoder size is called in the decoder's own config (for error messages a user can check against it).
DECODER_CONFIG_NAMES = {"decoder_hidden_size": "hidden_size", "decoder_num_layers": "num_hidden_layers",
                        "decoder_num_kv_heads": "num_key_value_heads", "decoder_head_dim": "head_dim"}


@dataclass
class LatentVAEOutput(ModelOutput):
    """Output of :meth:`LatentVAEModel.forward`.

    Args:
        loss: ``reconstruction_loss + beta * kl`` (the negative β-ELBO per record).
        reconstruction_loss: decoder NLL of the record given the injected latent, in nats per record (summed over
            its tokens, averaged over the batch), the scale DiffLM's and TabSyn's β values are meant for.
        reconstruction_per_token: the same NLL in nats per token (comparable across record lengths).
        kl: KL(q(z|x) || N(0, I)), summed over latent dimensions, averaged over the batch.
        field_loss: with the ``field`` injector, the NLL of the record under the injector's own logits alone, in
            nats per record (an auxiliary term that makes ``z`` carry every field; see :class:`FieldInjector`).
        mu, logvar: the posterior's parameters, ``(batch, latent_dim)``.
        z: the latent the decoder was conditioned on.
    """

    loss: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    reconstruction_per_token: torch.FloatTensor | None = None
    kl: torch.FloatTensor | None = None
    field_loss: torch.FloatTensor | None = None
    mu: torch.FloatTensor | None = None
    logvar: torch.FloatTensor | None = None
    z: torch.FloatTensor | None = None


class LatentVAEPreTrainedModel(PreTrainedModel):
    """Weight init and loading conventions shared by the latent VAE classes."""

    config_class = LatentVAEConfig
    base_model_prefix = "latent_vae"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True  # through the encoder's layers (the injector is a small MLP)

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def _build_encoder(encoder_config: dict | None) -> nn.Module:
    if not encoder_config:
        raise ValueError(
            "LatentVAEConfig.encoder_config is empty: pass a transformers encoder config as a dict "
            "(e.g. BertConfig(...).to_dict()) or use LatentVAEModel.from_encoder_pretrained(name_or_path, ...)."
        )
    options = dict(encoder_config)
    model = AutoModel.from_config(AutoConfig.for_model(options.pop("model_type"), **options))
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()
    if getattr(model, "pooler", None) is not None:
        model.pooler = None  # unused: we pool ourselves; unused parameters break DDP
    return model


class LatentVAEModel(LatentVAEPreTrainedModel):
    """Encoder + posterior head + latent injector; the reconstruction loss runs through a frozen causal LM."""

    def __init__(self, config: LatentVAEConfig):
        super().__init__(config)
        if config.field_codec:
            self.encoder = TableEncoder(FieldCodec.from_dict(config.field_codec), config.injector_hidden_size)
            pooled_size = self.encoder.hidden_size
        else:
            self.encoder = _build_encoder(config.encoder_config)
            pooled_size = self.encoder.config.hidden_size
        self.posterior = nn.Linear(pooled_size, 2 * config.latent_dim)
        self.injector = build_injector(config)
        # device_map="auto" must not cut one of the encoder's layers in two (the encoder class decides which).
        self._no_split_modules = list(getattr(self.encoder, "_no_split_modules", None) or [])
        self.post_init()

    def _init_weights(self, module):
        if module in self._mlp_modules():
            module.reset_parameters()  # torch's fan-in init: std 0.02 starves MLPs without normalisation layers
        else:
            super()._init_weights(module)
        if module is getattr(self, "posterior", None):
            # Start with spread-out means and a narrow posterior: pooled features of similar records differ by
            # little, and unit-variance noise would drown them, teaching the decoder to ignore z (posterior collapse).
            nn.init.normal_(module.weight, std=module.in_features**-0.5)
            nn.init.constant_(module.bias[self.config.latent_dim :], self.config.initial_logvar)
        if isinstance(getattr(self, "injector", None), FieldInjector) and module is self.injector.embedding:
            nn.init.normal_(module.weight, std=FIELD_EMBEDDING_INIT_STD)

    def _mlp_modules(self) -> set:
        """The layers of the table encoder and the field injector (plain MLPs and embeddings)."""
        parts = [getattr(self, "injector", None)] + ([self.encoder] if isinstance(getattr(self, "encoder", None),
                                                                                   TableEncoder) else [])
        return {module for part in parts if isinstance(part, (FieldInjector, TableEncoder))
                for module in part.modules() if isinstance(module, (nn.Linear, nn.Embedding))}

    def save_pretrained(self, save_directory, *args, **kwargs):
        """``PreTrainedModel.save_pretrained``, with the encoder's weights in ``config.encoder_storage_dtype``
        (when set and no ``state_dict`` is given)."""
        if self.config.encoder_storage_dtype is not None and kwargs.get("state_dict") is None:
            dtype = getattr(torch, self.config.encoder_storage_dtype)
            kwargs["state_dict"] = {name: tensor.to(dtype) if name.startswith("encoder.") and tensor.is_floating_point()
                                    else tensor for name, tensor in self.state_dict().items()}
        return super().save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def from_encoder_pretrained(
        cls, encoder_name_or_path: str | PreTrainedModel, decoder: PreTrainedModel, **config_kwargs
    ) -> "LatentVAEModel":
        """A fresh VAE whose encoder starts from pretrained weights (e.g. MiniLM) and whose sizes fit ``decoder``."""
        encoder = encoder_name_or_path
        if isinstance(encoder, (str, os.PathLike)):
            encoder = AutoModel.from_pretrained(encoder)
        else:
            encoder_name_or_path = encoder.config._name_or_path
        config = LatentVAEConfig.for_decoder(
            decoder.config,
            encoder_config=encoder.config.to_dict(),
            encoder_name_or_path=str(encoder_name_or_path),
            **config_kwargs,
        )
        model = cls(config)
        missing, unexpected = model.encoder.load_state_dict(encoder.state_dict(), strict=False)
        if unexpected or [key for key in missing if not key.startswith("pooler")]:
            raise ValueError(f"Encoder weights from {encoder_name_or_path} do not fit: {missing=} {unexpected=}")
        return model

    # -- the frozen decoder ---------------------------------------------------------------------------------
    def check_decoder(self, decoder: PreTrainedModel) -> None:
        """Raise :class:`DecoderMismatchError` unless ``decoder`` has the sizes this VAE's injector was built for."""
        actual = LatentVAEConfig.for_decoder(base_model(decoder).config)
        wrong = [
            f"{DECODER_CONFIG_NAMES[name]}: decoder has {getattr(actual, name)}, injector expects "
            f"{getattr(self.config, name)}"
            for name in DECODER_SIZES[self.config.injection_method]
            if getattr(self.config, name) is not None and getattr(self.config, name) != getattr(actual, name)
        ]
        if wrong:
            raise DecoderMismatchError(
                f"The decoder does not match this VAE's {self.config.injection_method!r} injector ("
                + "; ".join(wrong) + "). Use the decoder the VAE was trained with "
                f"({self.config.decoder_name_or_path or 'see config.decoder_name_or_path'})."
            )

    # -- encoding -------------------------------------------------------------------------------------------
    @property
    def reads_fields(self) -> bool:
        """Whether the encoder reads field codes (:class:`TableEncoder`) rather than tokens."""
        return isinstance(self.encoder, TableEncoder)

    def encode(
        self, encoder_input_ids: torch.Tensor | None = None, encoder_attention_mask: torch.Tensor | None = None,
        field_indices: torch.Tensor | None = None, field_scalars: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior ``(mu, logvar)`` of each record, ``(batch, latent_dim)`` each, from its tokens or (a table
        encoder) its field codes; a record longer than a text encoder's positions is placed by its beginning."""
        if self.reads_fields:
            mu, logvar = self.posterior(self.encoder(field_indices, field_scalars)).chunk(2, dim=-1)
            return mu, logvar.clamp(-self.config.logvar_clamp, self.config.logvar_clamp)
        if encoder_attention_mask is None:
            encoder_attention_mask = torch.ones_like(encoder_input_ids)
        limit = getattr(self.encoder.config, "max_position_embeddings", None)
        if limit is not None and encoder_input_ids.shape[1] > limit:
            encoder_input_ids, encoder_attention_mask = encoder_input_ids[:, :limit], encoder_attention_mask[:, :limit]
        hidden = self.encoder(input_ids=encoder_input_ids, attention_mask=encoder_attention_mask).last_hidden_state
        if self.config.pooling == "first":
            pooled = hidden[:, 0]
        else:
            mask = encoder_attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        mu, logvar = self.posterior(pooled).chunk(2, dim=-1)
        return mu, logvar.clamp(-self.config.logvar_clamp, self.config.logvar_clamp)

    @torch.no_grad()
    def encode_texts(self, texts, tokenizer, encoder_tokenizer=None, batch_size: int = 64) -> torch.Tensor:
        """Posterior means of serialized records, batched the way training saw them: ``(n, latent_dim)`` float."""
        from ..data.record_tokenization import collate_records, tokenize_records

        if self.reads_fields:
            codes = self.encoder.codec.encode(list(texts))
            return torch.cat([self.encode(field_indices=indices.to(self.device), field_scalars=scalars.to(self.device))[0]
                              for indices, scalars in zip(codes["indices"].split(4096), codes["scalars"].split(4096))]
                             ).float()
        means = []
        for start in range(0, len(texts), batch_size):
            features = tokenize_records(texts[start : start + batch_size], tokenizer, encoder_tokenizer)
            rows = [dict(zip(features, values)) for values in zip(*features.values())]
            batch = collate_records(rows, tokenizer, encoder_tokenizer)
            mu, _ = self.encode(batch["encoder_input_ids"].to(self.device),
                                batch["encoder_attention_mask"].to(self.device))
            means.append(mu.float())
        return torch.cat(means)

    # -- decoding -------------------------------------------------------------------------------------------
    def _field_logits(self, decoder: PreTrainedModel | None, input_ids, attention_mask, states):
        """Logits over the field injector's vocabulary at every position but the last (the fields' own alone when
        ``decoder`` is ``None``) from the positions' ``states``, and the targets as vocabulary indices."""
        hidden = None
        if decoder is not None:
            inputs_embeds = self.injector.embed(decoder, input_ids, states)
            hidden = decoder.get_decoder()(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                           use_cache=False).last_hidden_state[:, :-1]
        targets = torch.searchsorted(self.injector.vocabulary, input_ids[:, 1:].contiguous())
        targets = targets.clamp(max=len(self.injector.vocabulary) - 1)
        known = self.injector.vocabulary[targets] == input_ids[:, 1:]
        return self.injector.vocabulary_logits(decoder, hidden, states[:, :-1]), targets.masked_fill(~known, -100)

    @staticmethod
    def _token_nll(logits, targets, attention_mask, reduction: str) -> torch.Tensor:
        """Cross-entropy of ``targets`` under ``logits`` over the unpadded positions, reduced as
        :meth:`reconstruction_nll` says."""
        mask = attention_mask[:, 1:].to(logits.dtype)
        nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none") * mask
        if reduction == "none":
            return nll.sum(1) / mask.sum(1).clamp(min=1.0)
        if reduction == "record":
            return nll.sum(1).mean()
        return nll.sum() / mask.sum().clamp(min=1.0)

    def reconstruction_nll(
        self, decoder: PreTrainedModel | None, z: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
        reduction: str = "mean", field_positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``decoder``'s NLL of ``input_ids[:, 1:]`` given ``z`` in nats per token: over the batch (``"mean"``), per
        record (``"none"``), or summed per record and averaged over the batch (``"record"``). The ``field`` injector
        needs each token's ``field_positions``; with it, ``decoder=None`` scores the injector's own logits alone."""
        if isinstance(self.injector, FieldInjector):
            if field_positions is None:
                raise ValueError("The field injector needs the field position of every token (record_fields).")
            logits, targets = self._field_logits(decoder, input_ids, attention_mask,
                                                 self.injector.states(z, field_positions))
        else:
            inputs = self.injector.decoder_inputs(decoder, z, input_ids, attention_mask)
            with self.injector.injected(decoder, z):
                logits = decoder(**inputs, use_cache=False).logits
            start = self.injector.num_prefix_positions if "inputs_embeds" in inputs else 0
            logits = logits[:, start : start + input_ids.shape[1] - 1].float()
            targets = input_ids[:, 1:]
        return self._token_nll(logits, targets, attention_mask, reduction)

    @torch.no_grad()
    def generate(
        self, decoder: PreTrainedModel, z: torch.Tensor, start_token_id: int, **generate_kwargs
    ) -> torch.LongTensor:
        """New token ids written by ``decoder`` for each latent (the start token is not included)."""
        if isinstance(self.injector, FieldInjector):
            raise ValueError("The field injector decodes with the slot engine (pipe.decode(..., engine='slots')).")
        z = z.to(device=decoder.device, dtype=next(self.injector.parameters()).dtype)
        start = torch.full((z.shape[0], 1), start_token_id, dtype=torch.long, device=decoder.device)
        inputs = self.injector.decoder_inputs(decoder, z, start, torch.ones_like(start))
        with self.injector.injected(decoder, z):
            output = decoder.generate(**inputs, **generate_kwargs)
        return output if "inputs_embeds" in inputs else output[:, start.shape[1] :]

    def forward(
        self,
        input_ids: torch.LongTensor,
        decoder: PreTrainedModel | None,
        attention_mask: torch.LongTensor | None = None,
        encoder_input_ids: torch.LongTensor | None = None,
        encoder_attention_mask: torch.LongTensor | None = None,
        field_positions: torch.LongTensor | None = None,
        field_indices: torch.LongTensor | None = None,
        field_scalars: torch.FloatTensor | None = None,
        beta: float = 0.0,
        sample_posterior: bool | None = None,
        return_dict: bool = True,
    ) -> LatentVAEOutput | tuple:
        r"""Encode the record, sample ``z`` (in training) and score the frozen ``decoder``'s reconstruction of it.

        ``encoder_input_ids`` default to ``input_ids`` (an encoder over the decoder's vocabulary). ``beta`` weighs
        the KL term; schedules such as DiffLM's decreasing β pass it per step. With the ``field`` injector (and
        ``field_positions``, and ``field_indices``/``field_scalars`` for a table encoder), the loss adds the
        injector's own reconstruction (``field_loss``), and ``decoder=None`` trains that term alone (no LM step).
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if encoder_input_ids is None:
            encoder_input_ids, encoder_attention_mask = input_ids, attention_mask
        mu, logvar = self.encode(encoder_input_ids, encoder_attention_mask, field_indices, field_scalars)
        sample = self.training if sample_posterior is None else sample_posterior
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        field_loss = None
        if isinstance(self.injector, FieldInjector):  # one set of field states serves both terms
            if field_positions is None:
                raise ValueError("The field injector needs the field position of every token (record_fields).")
            states = self.injector.states(z, field_positions)
            field_loss = self._token_nll(*self._field_logits(None, input_ids, attention_mask, states),
                                         attention_mask, "record")
            reconstruction = field_loss if decoder is None else self._token_nll(
                *self._field_logits(decoder, input_ids, attention_mask, states), attention_mask, "record")
        elif decoder is None:
            raise ValueError("Only the field injector trains without a decoder.")
        else:
            reconstruction = self.reconstruction_nll(decoder, z, input_ids, attention_mask, "record")
        per_token = reconstruction * input_ids.shape[0] / attention_mask[:, 1:].sum().clamp(min=1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).mean()
        loss = reconstruction + beta * kl + (field_loss if decoder is not None and field_loss is not None else 0.0)
        output = LatentVAEOutput(loss=loss, reconstruction_loss=reconstruction, reconstruction_per_token=per_token,
                                 kl=kl, field_loss=field_loss, mu=mu, logvar=logvar, z=z)
        return output if return_dict else output.to_tuple()
