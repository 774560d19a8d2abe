"""The ways a latent ``z`` reaches a frozen causal LM: DiffLM's three (§3.3: soft prompt, KV memory, added
embedding) and ours for tables, per field (:class:`FieldInjector`).

Every injector turns ``(z, input_ids, attention_mask)`` into keyword arguments that both ``decoder(**kwargs)``
(teacher forcing) and ``decoder.generate(**kwargs)`` accept, and says how many positions it prepends to the
logits, so the VAE's loss and the pipeline's sampling share one code path per method.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn
from transformers import DynamicCache

from .configuration_latent_vae import LatentVAEConfig


def _mlp(in_features: int, hidden: int, out_features: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, hidden), nn.SiLU(), nn.Linear(hidden, out_features))


def _prefix_mask(attention_mask: torch.Tensor, length: int) -> torch.Tensor:
    ones = attention_mask.new_ones(attention_mask.shape[0], length)
    return torch.cat([ones, attention_mask], dim=1)


class LatentInjector(nn.Module):
    """Base class: maps ``z`` to decoder inputs. Subclasses set :attr:`num_prefix_positions`."""

    num_prefix_positions: int = 0

    def decoder_inputs(self, decoder, z: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        """Keyword arguments for ``decoder(...)`` / ``decoder.generate(...)`` carrying ``z``."""
        raise NotImplementedError

    @contextlib.contextmanager
    def injected(self, decoder, z: torch.Tensor) -> Iterator[None]:
        """Context in which the decoder sees ``z`` on every step (only the embedding method needs one)."""
        yield


class SoftPromptInjector(LatentInjector):
    """An MLP maps ``z`` to ``k`` token embeddings prepended to the record's embeddings (DiffLM's best method)."""

    def __init__(self, config: LatentVAEConfig):
        super().__init__()
        self.num_prefix_positions = config.num_soft_tokens
        self.hidden_size = config.decoder_hidden_size
        self.mlp = _mlp(config.latent_dim, config.injector_hidden_size, config.num_soft_tokens * config.decoder_hidden_size)

    def decoder_inputs(self, decoder, z, input_ids, attention_mask):
        embeddings = decoder.get_input_embeddings()(input_ids)
        prompt = self.mlp(z).view(z.shape[0], self.num_prefix_positions, self.hidden_size).to(embeddings.dtype)
        return {
            "inputs_embeds": torch.cat([prompt, embeddings], dim=1),
            "attention_mask": _prefix_mask(attention_mask, self.num_prefix_positions),
        }


class MemoryInjector(LatentInjector):
    """``z`` becomes ``k`` key/value prefix slots in every attention layer, passed as ``past_key_values``."""

    def __init__(self, config: LatentVAEConfig):
        super().__init__()
        self.num_slots = config.num_soft_tokens
        self.num_layers = config.decoder_num_layers
        self.num_kv_heads = config.decoder_num_kv_heads
        self.head_dim = config.decoder_head_dim
        out_features = 2 * self.num_layers * self.num_kv_heads * self.num_slots * self.head_dim
        self.mlp = _mlp(config.latent_dim, config.injector_hidden_size, out_features)

    def decoder_inputs(self, decoder, z, input_ids, attention_mask):
        dtype = decoder.get_input_embeddings().weight.dtype
        memory = self.mlp(z).to(dtype)
        # (batch, layers, key|value, kv_heads, slots, head_dim)
        memory = memory.view(z.shape[0], self.num_layers, 2, self.num_kv_heads, self.num_slots, self.head_dim)
        cache = DynamicCache(config=decoder.config)
        for layer in range(self.num_layers):
            cache.update(memory[:, layer, 0], memory[:, layer, 1], layer)
        return {
            "input_ids": input_ids,
            "attention_mask": _prefix_mask(attention_mask, self.num_slots),
            "past_key_values": cache,
        }


class EmbeddingInjector(LatentInjector):
    """``z`` is projected to one vector added to every token embedding, prompt and generated tokens alike."""

    def __init__(self, config: LatentVAEConfig):
        super().__init__()
        self.mlp = _mlp(config.latent_dim, config.injector_hidden_size, config.decoder_hidden_size)

    def decoder_inputs(self, decoder, z, input_ids, attention_mask):
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    @contextlib.contextmanager
    def injected(self, decoder, z):
        offset = self.mlp(z)  # one row per batch row, or per token of a packed (1, tokens) batch

        def add_offset(module, inputs, output):
            return output + offset.view(output.shape[0], -1, output.shape[-1]).to(output.dtype)

        handle = decoder.get_input_embeddings().register_forward_hook(add_offset)
        try:
            yield
        finally:
            handle.remove()


class FieldInjector(LatentInjector):
    """``z`` reaches each decoder position through the field the position belongs to (:mod:`..data.record_fields`):
    a state made of the field's share of ``z`` and the position's place in the field is added to the token
    embedding, and its own logits over the record vocabulary (every token the training records use) are added to
    the decoder's, a product of the two whose softmax runs over that vocabulary. Alone, those logits are a
    non-autoregressive decoder of the record: training them first (no LM step needed) makes ``z`` carry every field
    before the LM learns to read it, the cure for a decoder that ignores its latent."""

    def __init__(self, config: LatentVAEConfig):
        super().__init__()
        self.num_fields, self.max_positions = len(config.field_codec["fields"]), config.field_positions
        self.state_size = config.field_hidden_size
        self.fields = _mlp(config.latent_dim, config.injector_hidden_size, self.num_fields * self.state_size)
        self.positions = nn.Embedding(self.num_fields * self.max_positions, self.state_size)
        self.logits = nn.Linear(self.state_size, len(config.field_vocabulary))
        self.embedding = nn.Linear(self.state_size, config.decoder_hidden_size)
        self.register_buffer("vocabulary", torch.tensor(config.field_vocabulary, dtype=torch.long))

    def states(self, z: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``(batch, length, state_size)``: the state of each position id in ``positions`` under its row's ``z``."""
        shares = self.field_shares(z)
        fields = (positions // self.max_positions)[..., None].expand(-1, -1, self.state_size)
        return nn.functional.silu(torch.gather(shares, 1, fields) + self.positions(positions))

    def field_shares(self, z: torch.Tensor) -> torch.Tensor:
        """``(batch, num_fields, state_size)``: each field's share of ``z`` (the slot engine keeps them per slot: a
        row's ``z`` does not change while it is decoded, see :meth:`token_states`)."""
        return self.fields(z).view(z.shape[0], self.num_fields, self.state_size)

    def token_states(self, shares: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """:meth:`states` of single tokens, ``(tokens, state_size)``: token ``i`` in row ``rows[i]`` of
        :meth:`field_shares` at position id ``positions[i]`` (a packed decoding step)."""
        return nn.functional.silu(shares[rows, positions // self.max_positions] + self.positions(positions))

    def decoder_inputs(self, decoder, z, input_ids, attention_mask, positions=None):
        if positions is None:
            raise ValueError("The field injector needs the field position of every token (record_fields).")
        return {"inputs_embeds": self.embed(decoder, input_ids, self.states(z, positions)),
                "attention_mask": attention_mask}

    def embed(self, decoder, input_ids: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """The decoder's embeddings of ``input_ids`` with each position's :meth:`states` added (callers that also
        need the states for the logits compute them once)."""
        embeddings = decoder.get_input_embeddings()(input_ids)
        return embeddings + self.embedding(states).to(embeddings.dtype)

    def vocabulary_logits(self, decoder, hidden: torch.Tensor | None, states: torch.Tensor) -> torch.Tensor:
        """Logits over :attr:`vocabulary`: the decoder's (from its final ``hidden`` states) plus the fields' own
        (only the fields' own where ``hidden`` is ``None``)."""
        own = self.logits(states.to(self.logits.weight.dtype))  # states joined to a bf16 decoder's hidden come as bf16
        if hidden is None:
            return own
        weight = decoder.get_output_embeddings().weight[self.vocabulary]
        return (hidden @ weight.T.to(hidden.dtype)).float() + own.float()


INJECTORS = {"soft_prompt": SoftPromptInjector, "memory": MemoryInjector, "embedding": EmbeddingInjector,
             "field": FieldInjector}

# The decoder sizes (``LatentVAEConfig`` fields) each injector is built from, and that a decoder must match.
DECODER_SIZES = {
    "soft_prompt": ("decoder_hidden_size",),
    "memory": ("decoder_hidden_size", "decoder_num_layers", "decoder_num_kv_heads", "decoder_head_dim"),
    "embedding": ("decoder_hidden_size",),
    "field": ("decoder_hidden_size",),
}


def build_injector(config: LatentVAEConfig) -> LatentInjector:
    """The injector named by ``config.injection_method``."""
    missing = [name for name in DECODER_SIZES[config.injection_method] if getattr(config, name) is None]
    if missing:
        raise ValueError(
            f"LatentVAEConfig lacks {', '.join(missing)} needed by the {config.injection_method!r} injector; "
            "build it with LatentVAEConfig.for_decoder(decoder.config, ...)."
        )
    if config.injection_method == "field" and not (config.field_codec and config.field_vocabulary):
        raise ValueError("The 'field' injector needs LatentVAEConfig.field_codec and field_vocabulary (a table's "
                         "fields and the tokens its records use); stage 1 fills them from the training records.")
    return INJECTORS[config.injection_method](config)
