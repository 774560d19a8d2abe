"""Continuous batching for the frozen decoder: a fixed pool of slots, each refilled with the next latent as soon as
its record ends, so no decoding step is spent on finished rows.

Why not ``generate``: a ``generate`` batch runs until its longest row ends, and records under a grammar vary a lot
in length, so most rows idle for much of the batch. Why not transformers' own continuous batching
(``generate_batch`` / ``ContinuousBatchingManager``, transformers 5): its requests are lists of token ids, so it
cannot carry our soft-prompt embeddings or KV-memory prefixes, and its logits processors are per-request tensor
transforms, not stateful grammar matchers.

How: every slot writes its next key/value into the same new cache column each step (one ``DynamicCache`` for the
pool); a slot's own columns start where its latent's prefix was written. A refilled slot gets its prefix (soft
prompt + bos, KV memory + bos, or bos with the embedding offset) from a small prefill of the newcomers, copied into
the last columns of the pool cache; the attention mask hides every older column from it, and its position ids
restart at the prefix length, so it decodes exactly as it would alone. Columns no live slot sees are dropped.
The grammar masks for the whole pool come from one xgrammar batch call per step (:class:`SlotGrammar`).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
import xgrammar as xgr
from transformers import DynamicCache, LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper


class SlotGrammar:
    """One xgrammar matcher per slot, restarted when the slot takes a new row (the row's own fixed values).

    Args:
        schema: the table schema records follow.
        tokenizer: the decoder's tokenizer.
        vocab_size: the width of the decoder's logits.
        num_slots: the pool size.
        fixed_values: ``{column: value}`` for every row, or one such dict (or ``None``) per row.
    """

    def __init__(self, schema, tokenizer, vocab_size: int, num_slots: int,
                 fixed_values: dict | Sequence[dict | None] | None = None):
        from ..data.constrained_decoding import SchemaLogitsProcessor

        # The schema processor holds the compiled grammars (one per distinct fixed values, compiled once).
        self._grammars = SchemaLogitsProcessor(schema, tokenizer, vocab_size)
        self.fixed_values, self.vocab_size = fixed_values, vocab_size
        self._matchers: list[xgr.GrammarMatcher | None] = [None] * num_slots
        self._batch = xgr.BatchGrammarMatcher()
        self._bitmask = xgr.allocate_token_bitmask(num_slots, vocab_size)

    def start(self, slots: Sequence[int], rows: Sequence[int]) -> None:
        """Give each slot in ``slots`` a fresh matcher for the row of the same position in ``rows``."""
        for slot, row in zip(slots, rows):
            fixed = self.fixed_values[row] if isinstance(self.fixed_values, list) else self.fixed_values
            self._matchers[slot] = xgr.GrammarMatcher(self._grammars.compiled_grammar(fixed))

    def mask(self, scores: torch.Tensor, slots: Sequence[int]) -> None:
        """Set to -inf, in place, every token that breaks the record of the slot each row of ``scores`` holds."""
        positions = list(range(len(slots)))
        self._batch.batch_fill_next_token_bitmask([self._matchers[s] for s in slots], self._bitmask, positions)
        xgr.apply_token_bitmask_inplace(scores, self._bitmask[: len(slots)].to(scores.device, non_blocking=True),
                                        vocab_size=self.vocab_size)

    def keep(self, slots: list[int]) -> None:
        """Renumber the slots after the pool kept only ``slots``."""
        self._matchers[: len(slots)] = [self._matchers[s] for s in slots]

    def accept(self, slot: int, token: int) -> None:
        if not self._matchers[slot].accept_token(token):
            raise RuntimeError(f"Token {token} breaks the record grammar of slot {slot}.")


def token_warpers(do_sample: bool, temperature: float = 1.0, top_p: float = 1.0) -> LogitsProcessorList:
    """The sampling warpers ``generate`` would use for these options (none for greedy decoding)."""
    warpers = LogitsProcessorList()
    if do_sample and temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    if do_sample and top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p))
    return warpers


class _Pool:
    """The slots' shared decoder state: KV cache, attention mask, positions, latents and the row each slot holds."""

    def __init__(self, decoder, injector, start_token_id: int):
        self.decoder, self.injector, self.start_token_id = decoder, injector, start_token_id

    @classmethod
    def start(cls, decoder, injector, z: torch.Tensor, rows: list[int], start_token_id: int):
        """A pool holding ``rows`` (latents ``z``), and their first next-token logits."""
        pool = cls(decoder, injector, start_token_id)
        pool.cache, logits, pool.mask, pool.prefix_length = pool._prefill(z)
        pool.z, pool.rows = z, list(rows)
        pool.positions = torch.full((len(rows),), pool.prefix_length, dtype=torch.long, device=z.device)
        pool.first_column = [0] * len(rows)  # where each slot's own columns start
        return pool, logits

    def _prefill(self, z: torch.Tensor):
        """Decoder cache and next-token logits of ``z``'s prefix (what the injector puts before the first token)."""
        start = torch.full((z.shape[0], 1), self.start_token_id, dtype=torch.long, device=z.device)
        inputs = self.injector.decoder_inputs(self.decoder, z, start, torch.ones_like(start))
        inputs.setdefault("past_key_values", DynamicCache(config=self.decoder.config))
        mask = inputs["attention_mask"]
        fed = inputs["inputs_embeds"].shape[1] if "inputs_embeds" in inputs else inputs["input_ids"].shape[1]
        positions = torch.arange(mask.shape[1] - fed, mask.shape[1], device=z.device).expand(z.shape[0], -1)
        with self.injector.injected(self.decoder, z):
            output = self.decoder(**inputs, position_ids=positions, use_cache=True, logits_to_keep=1)
        return output.past_key_values, output.logits[:, -1], mask, mask.shape[1]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed each slot its last token; next-token logits for every slot."""
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(self.rows), 1)], dim=1)
        with self.injector.injected(self.decoder, self.z):
            output = self.decoder(input_ids=tokens[:, None], attention_mask=self.mask,
                                  position_ids=self.positions[:, None], past_key_values=self.cache, use_cache=True)
        self.positions += 1
        return output.logits[:, -1]

    def refill(self, slots: list[int], rows: list[int], z: torch.Tensor) -> torch.Tensor:
        """Put new rows in ``slots``: their prefix goes into the last columns, older columns are masked from them.
        Returns their first next-token logits."""
        cache, logits, _, length = self._prefill(z)
        index = torch.tensor(slots, device=z.device)
        width = self.mask.shape[1]
        for layer, new in zip(self.cache.layers, cache.layers):
            layer.keys[index, :, width - length :] = new.keys
            layer.values[index, :, width - length :] = new.values
        self.mask[index] = 0
        self.mask[index, width - length :] = 1
        self.positions[index] = length
        self.z = self.z.index_copy(0, index, z)
        for slot, row in zip(slots, rows):
            self.rows[slot], self.first_column[slot] = row, width - length
        return logits

    def keep(self, slots: list[int]) -> None:
        """Keep only ``slots`` (the rest are finished and nothing is left to refill them with)."""
        index = torch.tensor(slots, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask, self.positions, self.z = self.mask[index], self.positions[index], self.z[index]
        self.rows = [self.rows[s] for s in slots]
        self.first_column = [self.first_column[s] for s in slots]

    def drop_unseen_columns(self) -> None:
        """Forget the leading cache columns that belong to no live slot (keeping room for one more prefix)."""
        live = [column for column, row in zip(self.first_column, self.rows) if row is not None]
        cut = min(min(live), self.mask.shape[1] - self.prefix_length)
        if cut <= 0:
            return
        for layer in self.cache.layers:
            layer.keys, layer.values = layer.keys[:, :, cut:], layer.values[:, :, cut:]
        self.mask = self.mask[:, cut:]
        self.first_column = [column - cut for column in self.first_column]


@torch.no_grad()
def decode_in_slots(
    decoder,
    injector,
    latents: torch.Tensor,
    start_token_id: int,
    eos_token_id: int,
    num_slots: int,
    max_new_tokens: int,
    grammar: SlotGrammar | None = None,
    warpers: LogitsProcessorList | None = None,
    do_sample: bool = False,
) -> Iterator[tuple[int, list[int], bool]]:
    """Decode every latent with a pool of ``num_slots`` slots kept full (continuous batching).

    Yields ``(row, token_ids, ended)`` as rows finish (not in row order): the new tokens without ``eos``, and
    whether ``eos`` ended the row (else it hit ``max_new_tokens``). ``grammar`` constrains each row to a record;
    ``warpers`` and ``do_sample`` pick the next token as ``generate`` would (greedy otherwise; sampling uses torch's
    global RNG). ``decoder`` and ``injector`` are passed explicitly: the frozen LM and the VAE's latent injector.
    """
    device = decoder.device
    latents = latents.to(device=device, dtype=next(injector.parameters()).dtype)
    queue = iter(range(len(latents)))
    first = [row for _, row in zip(range(num_slots), queue)]
    if not first:
        return
    pool, logits = _Pool.start(decoder, injector, latents[first], first, start_token_id)
    if grammar is not None:
        grammar.start(range(len(first)), first)
    generated: list[list[int]] = [[] for _ in first]
    tokens = torch.full((len(first),), eos_token_id, dtype=torch.long, device=device)

    def choose(logits: torch.Tensor, slots: list[int]) -> list[int]:  # row i of logits is slot slots[i]
        scores = logits.float()
        if grammar is not None:
            grammar.mask(scores, slots)
        if not do_sample:
            return scores.argmax(dim=-1).tolist()
        scores = warpers(None, scores) if warpers else scores
        return torch.multinomial(scores.softmax(dim=-1), num_samples=1).squeeze(1).tolist()

    slots = list(range(len(first)))
    while True:
        finished = []
        for slot, token in zip(slots, choose(logits, slots)):
            tokens[slot] = token
            ended = token == eos_token_id
            if not ended:
                generated[slot].append(token)
            if ended or len(generated[slot]) >= max_new_tokens:
                yield pool.rows[slot], generated[slot], ended
                finished.append(slot)
            elif grammar is not None:
                grammar.accept(slot, token)
        newcomers = [row for _, row in zip(finished, queue)]
        for slot in finished[len(newcomers):]:
            pool.rows[slot] = None  # nothing left to refill it with
        if newcomers:  # they choose their first token now, and join the next pool step with the others
            slots = finished[: len(newcomers)]
            logits = pool.refill(slots, newcomers, latents[newcomers])
            for slot in slots:
                generated[slot] = []
            if grammar is not None:
                grammar.start(slots, newcomers)
            continue
        live = [slot for slot, row in enumerate(pool.rows) if row is not None]
        if not live:
            return
        if 4 * (len(pool.rows) - len(live)) >= len(pool.rows):  # shrink the pool once a quarter of it idles
            pool.keep(live)
            if grammar is not None:
                grammar.keep(live)
            tokens, generated, live = tokens[live], [generated[s] for s in live], list(range(len(live)))
        pool.drop_unseen_columns()
        logits = pool.step(tokens)
        slots = live
        if len(live) < len(logits):  # idle slots' logits are not looked at
            logits = logits[live]


def decode_texts_in_slots(
    decoder,
    injector,
    tokenizer,
    latents: torch.Tensor,
    num_slots: int,
    max_new_tokens: int,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    schema=None,
    fixed_values: dict | list[dict] | None = None,
    progress=None,
) -> tuple[list[str], int]:
    """The texts of :func:`decode_in_slots` in the order of ``latents`` (constrained by ``schema`` when given), and
    how many rows hit ``max_new_tokens`` before ending. ``progress`` (a tqdm bar) advances by one per row."""
    from ..data.record_tokenization import decoder_start_token_id

    grammar = None
    if schema is not None:
        vocab_size = decoder.get_output_embeddings().weight.shape[0]
        grammar = SlotGrammar(schema, tokenizer, vocab_size, min(num_slots, len(latents)), fixed_values)
    ids: list[list[int] | None] = [None] * len(latents)
    truncated = 0
    rows = decode_in_slots(decoder, injector, latents, decoder_start_token_id(tokenizer), tokenizer.eos_token_id,
                           num_slots, max_new_tokens, grammar, token_warpers(do_sample, temperature, top_p), do_sample)
    for row, tokens, ended in rows:
        ids[row], truncated = tokens, truncated + (not ended)
        if progress is not None:
            progress.update(1)
    return tokenizer.batch_decode(ids, skip_special_tokens=True), truncated
