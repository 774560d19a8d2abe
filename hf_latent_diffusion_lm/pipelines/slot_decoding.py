"""Continuous batching for the frozen decoder: a fixed pool of slots, each refilled with the next latent as soon as
its record ends, so no decoding step is spent on finished rows.

Why not ``generate``: a ``generate`` batch runs until its longest row ends, and records under a grammar vary a lot
in length, so most rows idle for much of the batch. Why not transformers' own continuous batching
(``generate_batch`` / ``ContinuousBatchingManager``, transformers 5): its requests are lists of token ids, so it
cannot carry our soft-prompt embeddings or KV-memory prefixes, and its logits processors are per-request tensor
transforms, not stateful grammar matchers.

How: one preallocated KV cache for the pool (:class:`SlotKVLayer`), where column ``c`` of a slot holds position
``c`` of its row. A refilled slot gets its prefix (soft prompt + bos, KV memory + bos, or bos with the embedding
offset) from a small prefill of the newcomers, written into its first columns; the attention mask hides every column
past a slot's own position, so it decodes exactly as it would alone. The grammar masks for the whole pool come from
one xgrammar batch call per step (:class:`~..grammar.RecordGrammar`).

What makes a step cheaper than ``generate``'s on a CPU: a token is drawn by inverting the cumulative distribution
(:func:`sample_tokens`, not a random number per vocabulary entry); a row whose next token the grammar forces skips
the LM head (:func:`forced_tokens`); and text the grammar forces after a chosen token (keys, separators, the rest of
a category) is fed in the same step, in the tokenizer's own tokens (:meth:`RecordGrammar.forced_run`), so a record
takes as many steps as it has sampled tokens. A step packs every slot's run into one sequence (no padding: runs
differ in length), so the decoder's matrices see each token once; only attention lays the runs out per slot.
"""

from __future__ import annotations

from typing import Iterator

import torch
import xgrammar as xgr
from transformers import Cache, DynamicCache, LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper
from transformers.cache_utils import DynamicLayer

from ..grammar import RecordGrammar
from ..modeling.decoder_adapter import merged_adapter
from ..modeling.latent_injectors import FieldInjector
from .grouped_query_attention import SlotRuns, slot_attention


def forced_tokens(bitmask: torch.Tensor) -> torch.Tensor:
    """Per row of an xgrammar bitmask: the one token it allows, or -1 where it allows several. Such a token needs
    no logits (sampling from a distribution with one allowed token always returns it), so its row skips the LM
    head: with a keyed table record about half the tokens are forced (keys, separators, the rest of a category)."""
    words = bitmask.to(torch.int64) & 0xFFFFFFFF
    nonzero = words != 0
    word_index = nonzero.to(torch.int8).argmax(dim=1)
    word = words.gather(1, word_index[:, None]).squeeze(1)
    single = (nonzero.sum(dim=1) == 1) & ((word & (word - 1)) == 0)
    token = word_index * 32 + torch.log2(word.clamp(min=1).double()).long()
    return torch.where(single, token, -1)


def token_warpers(do_sample: bool, temperature: float = 1.0, top_p: float = 1.0) -> LogitsProcessorList:
    """The sampling warpers ``generate`` would use for these options (none for greedy decoding)."""
    warpers = LogitsProcessorList()
    if do_sample and temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    if do_sample and top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p))
    return warpers


class SlotKVLayer(DynamicLayer):
    """One layer's keys and values, preallocated as ``(slots, kv_heads, capacity, head_dim)``: column ``c`` of a slot
    holds position ``c`` of its row, and a decoding step writes each token's keys at its slot's next column."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, pool: "_Pool"):
        super().__init__()
        self.keys, self.values, self.pool = keys, values, pool
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        """Store a packed step's keys and values, ``(1, kv_heads, tokens, head_dim)``; return every slot's."""
        slots, columns, width = self.pool.runs.slots, self.pool.token_columns, self.pool.width
        self.keys[slots, :, columns] = key_states[0].transpose(0, 1)
        self.values[slots, :, columns] = value_states[0].transpose(0, 1)
        return self.keys[:, :, :width], self.values[:, :, :width]

    def get_seq_length(self) -> int:
        return self.pool.width


class FieldHead:
    """The field injector's output side for the pool: a step returns each slot's final hidden state joined with its
    field state, and this turns them into scores over the record vocabulary (the tokens the training records use:
    the decoder's logits plus the fields' own). Called, it spreads them over the whole vocabulary, where every other
    token scores far lower, so the grammar falls back to those only where it allows nothing else."""

    OUTSIDE = -1e4

    def __init__(self, decoder, injector):
        self.decoder, self.injector = decoder, injector
        self.hidden_size = decoder.get_input_embeddings().weight.shape[1]
        self.vocab_size = decoder.get_output_embeddings().weight.shape[0]
        self.vocabulary = injector.vocabulary  # sorted token ids
        self._words, self._bits = (self.vocabulary >> 5).cpu(), (self.vocabulary & 31).cpu().to(torch.int32)

    def vocabulary_scores(self, joined: torch.Tensor) -> torch.Tensor:
        """``(rows, len(vocabulary))`` float32 scores of the record vocabulary's tokens."""
        hidden, states = joined.split([self.hidden_size, joined.shape[-1] - self.hidden_size], dim=-1)
        return self.injector.vocabulary_logits(self.decoder, hidden, states)

    def allowed(self, bitmask: torch.Tensor) -> torch.Tensor:
        """Which record-vocabulary tokens each row of an xgrammar bitmask allows, ``(rows, len(vocabulary))``."""
        return ((bitmask[:, self._words] >> self._bits) & 1).bool()

    def spread(self, vocabulary_scores: torch.Tensor) -> torch.Tensor:
        """Record-vocabulary scores placed in the whole vocabulary, every other token at :attr:`OUTSIDE`."""
        scores = vocabulary_scores.new_full((len(vocabulary_scores), self.vocab_size), self.OUTSIDE)
        scores[:, self.vocabulary] = vocabulary_scores
        return scores

    def __call__(self, joined: torch.Tensor) -> torch.Tensor:
        return self.spread(self.vocabulary_scores(joined))


class _FieldTracks:
    """Each slot's field positions (:mod:`..data.record_fields`), fed the tokens the slot is fed."""

    def __init__(self, injector, tokenizer, num_slots: int):
        from ..data.record_fields import FieldPositions, token_texts

        self.new = lambda: FieldPositions(injector.num_fields, injector.max_positions)
        self.text = token_texts(tokenizer)
        self.slots = [self.new() for _ in range(num_slots)]

    def start(self, slots) -> torch.Tensor:
        """Restart ``slots`` with the start token; its position ids, ``(len(slots), 1)``."""
        self.restart(slots)
        return torch.tensor([[self.slots[slot].feed("")] for slot in slots])

    def restart(self, slots) -> None:
        """New records in ``slots``, their start token still to be fed (by a step)."""
        for slot in slots:
            self.slots[slot] = self.new()

    def feed(self, runs: list[list[int]], device: torch.device) -> torch.Tensor:
        """Position ids of a packed step's tokens (slot ``i`` fed ``runs[i]``), ``(tokens,)``."""
        return torch.tensor([self.slots[slot].feed(self.text(token)) for slot, run in enumerate(runs)
                             for token in run], device=device)

    def keep(self, slots) -> None:
        self.slots = [self.slots[s] for s in slots]


class _Pool:
    """The slots' decoder state: a preallocated KV cache, each slot's position (= its next cache column), its
    latent and the row it holds. Attention masks are built here (a slot sees columns up to its position), so
    neither the occupant before it nor unwritten columns are ever seen."""

    def __init__(self, decoder, injector, z: torch.Tensor, rows: list[int], start_token_id: int, capacity: int,
                 tracks: _FieldTracks | None = None):
        """Prefill ``rows`` (latents ``z``); :attr:`first_logits` are their first next-token logits (with the field
        injector, ``tracks`` follow each slot's field positions and :attr:`prefill_head` makes those logits)."""
        self.decoder, self.injector, self.start_token_id, self.tracks = decoder, injector, start_token_id, tracks
        self.head = None  # the LM head when steps return final hidden states (so forced rows skip it), else None
        self.prefill_head = None  # what makes logits of the prefill's outputs (None: they are logits)
        self._head_checked = False
        if tracks is not None:
            self.head = self.prefill_head = FieldHead(decoder, injector)
            self._head_checked = True
        prefix, self.first_logits, self.prefix_length = self._prefill(z, list(range(len(rows))))
        layers = []
        for layer in prefix.layers:
            keys = layer.keys.new_zeros(*layer.keys.shape[:2], self.prefix_length + capacity, layer.keys.shape[-1])
            values = torch.zeros_like(keys)
            keys[:, :, : self.prefix_length], values[:, :, : self.prefix_length] = layer.keys, layer.values
            layers.append(SlotKVLayer(keys, values, self))
        self.cache = Cache(layers=layers)
        self.z, self.rows = z, list(rows)
        self.shares = injector.field_shares(z) if tracks is not None else None  # fixed while a slot's row lasts
        self.positions = torch.full((len(rows),), self.prefix_length, dtype=torch.long, device=z.device)
        self.width = self.prefix_length

    def _prefill(self, z: torch.Tensor, slots: list[int]):
        """Decoder cache and next-token logits of ``z``'s prefix (what the injector puts before the first token)."""
        start = torch.full((z.shape[0], 1), self.start_token_id, dtype=torch.long, device=z.device)
        if self.tracks is not None:
            states = self.injector.states(z, self.tracks.start(slots).to(z.device))
            output = self.decoder.get_decoder()(inputs_embeds=self.injector.embed(self.decoder, start, states),
                                                position_ids=torch.zeros_like(start), use_cache=True,
                                                past_key_values=DynamicCache(config=self.decoder.config))
            hidden = output.last_hidden_state[:, -1]
            return output.past_key_values, torch.cat([hidden, states[:, -1].to(hidden.dtype)], dim=-1), 1
        inputs = self.injector.decoder_inputs(self.decoder, z, start, torch.ones_like(start))
        inputs.setdefault("past_key_values", DynamicCache(config=self.decoder.config))
        length = inputs["attention_mask"].shape[1]
        fed = inputs["inputs_embeds"].shape[1] if "inputs_embeds" in inputs else inputs["input_ids"].shape[1]
        positions = torch.arange(length - fed, length, device=z.device).expand(z.shape[0], -1)
        with self.injector.injected(self.decoder, z):
            output = self.decoder(**inputs, position_ids=positions, use_cache=True, logits_to_keep=1,
                                  output_hidden_states=not self._head_checked)
        if not self._head_checked:  # steps may skip the LM head where the head alone turns hidden states into logits
            head, last = self.decoder.get_output_embeddings(), output.hidden_states[-1][:, -1]
            self.head = head if torch.allclose(head(last), output.logits[:, -1], rtol=1e-3, atol=1e-4) else None
            self._head_checked = True
        return output.past_key_values, output.logits[:, -1], length

    def step(self, runs: list[list[int]], live: list[int]) -> torch.Tensor:
        """Feed each slot its run of tokens (``runs[slot]``, empty for an idle slot; ``live``: the slots holding a
        row). The runs are packed into one sequence, so the decoder's matrices see each token once and no padding;
        only attention lays them out per slot (:class:`SlotRuns`). Returns, per slot, after its last token, its
        final hidden state where :attr:`head` makes logits of it (so rows whose next token is forced skip the
        head), else its next-token logits."""
        device = self.positions.device
        lengths = torch.tensor([len(run) for run in runs], device=device)
        longest = int(lengths.max())
        ids = torch.tensor([[token for run in runs for token in run]], device=device)  # (1, tokens), slot by slot
        fed = torch.arange(longest, device=device) < lengths[:, None]
        slots, places = fed.nonzero(as_tuple=True)
        self.runs = SlotRuns(slots, places, len(runs), longest)
        columns = self.positions[:, None] + torch.arange(longest, device=device)
        self.token_columns = columns[fed]
        self.width = int((self.positions + lengths)[live].max())
        dtype = self.cache.layers[0].keys.dtype
        seen = torch.arange(self.width, device=device) <= columns[:, :, None]
        mask = torch.zeros(seen.shape, dtype=dtype, device=device).masked_fill_(~seen, torch.finfo(dtype).min)
        packed = {"attention_mask": mask[:, None], "position_ids": self.token_columns[None],
                  "past_key_values": self.cache, "use_cache": True, "slot_runs": self.runs}
        last = lengths.cumsum(0) - 1  # each slot's last token in the packed sequence
        model = self.decoder if self.head is None else self.decoder.get_decoder()
        if self.tracks is not None:
            states = self.injector.token_states(self.shares, slots, self.tracks.feed(runs, device))
            output = model(inputs_embeds=self.injector.embed(self.decoder, ids, states[None]), **packed)
            self.positions += lengths
            hidden = output.last_hidden_state[0, last]
            return torch.cat([hidden, states[last].to(hidden.dtype)], dim=-1)
        if self.head is None:  # the whole model: its LM head only at each slot's last token
            packed["logits_to_keep"] = last
        with self.injector.injected(self.decoder, self.z[slots]):
            output = model(input_ids=ids, **packed)
        self.positions += lengths
        return output.logits[0] if self.head is None else output.last_hidden_state[0, last]

    def refill(self, slots: list[int], rows: list[int], z: torch.Tensor) -> torch.Tensor:
        """Put new rows in ``slots`` (their prefix in the first columns); returns their first next-token logits."""
        prefix, logits, length = self._prefill(z, slots)
        index = torch.tensor(slots, device=z.device)
        for layer, new in zip(self.cache.layers, prefix.layers):
            layer.keys[index, :, :length], layer.values[index, :, :length] = new.keys, new.values
        self.positions[index] = length
        self.z = self.z.index_copy(0, index, z)
        for slot, row in zip(slots, rows):
            self.rows[slot] = row
        return logits

    @property
    def refills_in_step(self) -> bool:
        """Whether a new row can start inside a step, its start token fed like any other token: so with the field
        injector, whose only prefix is the start token (the other injectors put a prefix before it, which needs a
        prefill of its own)."""
        return self.tracks is not None

    def place(self, slots: list[int], rows: list[int], z: torch.Tensor) -> None:
        """Put new rows in ``slots`` with nothing fed yet: the next step feeds their start token at column 0
        (only where :attr:`refills_in_step`)."""
        index = torch.tensor(slots, device=z.device)
        self.positions[index] = 0
        self.z = self.z.index_copy(0, index, z)
        self.shares = self.shares.index_copy(0, index, self.injector.field_shares(z))
        self.tracks.restart(slots)
        for slot, row in zip(slots, rows):
            self.rows[slot] = row

    def release(self, slot: int) -> None:
        """The slot's row is done: until refilled it is fed nothing."""
        self.rows[slot] = None
        self.positions[slot] = 0

    def keep(self, slots: list[int]) -> None:
        """Keep only ``slots`` (the rest are idle and nothing is left to refill them with)."""
        index = torch.tensor(slots, device=self.positions.device)
        self.cache.batch_select_indices(index)
        self.positions, self.z = self.positions[index], self.z[index]
        self.rows = [self.rows[s] for s in slots]
        if self.tracks is not None:
            self.shares = self.shares[index]
            self.tracks.keep(slots)


def sample_tokens(scores: torch.Tensor) -> torch.Tensor:
    """One token per row drawn from ``softmax(scores)`` by inverting its cumulative distribution at one uniform
    number per row: the same distribution as ``torch.multinomial``, which on a CPU draws a random number per
    vocabulary entry (16 ms a step for 16 rows of a 49k vocabulary, against under 1 ms here). ``right=True`` never
    lands on a zero-probability (masked) token; the uniform is scaled a hair below the total so rounding cannot
    step past the last token."""
    cumulative = scores.softmax(dim=-1).cumsum_(dim=-1)
    uniform = torch.rand(len(scores), 1, device=scores.device, dtype=cumulative.dtype) * cumulative[:, -1:]
    return torch.searchsorted(cumulative, uniform * (1 - 1e-6), right=True).squeeze_(1)


def _allowed_scores(outputs: torch.Tensor, head, bitmask: torch.Tensor | None,
                    grammar: RecordGrammar | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scores with the tokens the grammar forbids at ``-inf``, and the token id of each score column (``None``: the
    column is the id). With the field head, only the record vocabulary is scored when every row allows one of its
    tokens: the rest of the vocabulary scores :attr:`FieldHead.OUTSIDE`, whose probability is exactly 0 in float32,
    so this draws from the same distribution while softmax, warpers and sampling touch a few hundred columns instead
    of the whole vocabulary (with 64 slots and SmolLM2's 49k tokens that full-width work was ~11 ms a step on a CPU)."""
    if isinstance(head, FieldHead):
        scores = head.vocabulary_scores(outputs)
        if bitmask is None:
            return scores, head.vocabulary
        allowed = head.allowed(bitmask).to(scores.device)
        if allowed.any(dim=1).all():
            return scores.masked_fill_(~allowed, float("-inf")), head.vocabulary
        scores = head.spread(scores)  # a row allows only tokens outside the record vocabulary
    else:
        scores = (head(outputs) if head is not None else outputs).float()
    if bitmask is not None:
        xgr.apply_token_bitmask_inplace(scores, bitmask.to(scores.device, non_blocking=True),
                                        vocab_size=grammar.vocab_size)
    return scores, None


def _next_tokens(outputs: torch.Tensor, head, slots: list[int], grammar: RecordGrammar | None, warpers,
                 do_sample: bool) -> torch.Tensor:
    """The token each slot in ``slots`` writes next: the grammar's forced token where it allows only one, else
    sampled (or the argmax) from the masked logits; ``outputs`` are logits, or hidden states ``head`` maps to logits
    (only for the rows that need them)."""
    bitmask = grammar.allowed(slots) if grammar is not None else None
    chosen = forced_tokens(bitmask).to(outputs.device) if bitmask is not None else None
    free = torch.arange(len(slots), device=outputs.device) if chosen is None else (chosen < 0).nonzero().squeeze(1)
    if len(free) == 0:
        return chosen
    scores, token_ids = _allowed_scores(outputs[free], head, None if bitmask is None else bitmask[free.cpu()], grammar)
    picked = sample_tokens(warpers(None, scores) if warpers else scores) if do_sample else scores.argmax(dim=-1)
    if token_ids is not None:
        picked = token_ids[picked]
    if chosen is None:
        return picked
    chosen[free] = picked
    return chosen


@torch.no_grad()
def decode_in_slots(
    decoder,
    injector,
    latents: torch.Tensor,
    start_token_id: int,
    eos_token_id: int,
    num_slots: int,
    max_new_tokens: int,
    grammar: RecordGrammar | None = None,
    warpers: LogitsProcessorList | None = None,
    do_sample: bool = False,
    refill_at: int | None = None,
    max_forced: int = 8,
    tokenizer=None,
) -> Iterator[tuple[int, list[int], bool]]:
    """Decode every latent with a pool of ``num_slots`` slots kept full (continuous batching).

    Yields ``(row, token_ids, ended)`` as rows finish (not in row order): the new tokens without ``eos``, and
    whether ``eos`` ended the row (else it hit ``max_new_tokens``). ``grammar`` constrains each row to a record;
    ``warpers`` and ``do_sample`` pick the next token as ``generate`` would (greedy otherwise; sampling uses torch's
    global RNG). Idle slots are refilled together once ``refill_at`` of them wait (default: an eighth of the pool,
    so one prefill serves several newcomers; with the field injector a newcomer starts inside the next step, so by
    default every idle slot is refilled at once). Text the grammar forces after a chosen token goes into the same step,
    up to ``max_forced`` tokens of it (:meth:`RecordGrammar.forced_run`). ``decoder`` and ``injector`` are passed
    explicitly: the frozen LM and the VAE's latent injector. The field injector also needs the ``tokenizer`` (a
    token's text says which field it is in).
    """
    with slot_attention(decoder), merged_adapter(decoder):
        yield from _decode_pool(decoder, injector, latents, start_token_id, eos_token_id, num_slots, max_new_tokens,
                                grammar, warpers, do_sample, refill_at, max_forced, tokenizer)


def _decode_pool(decoder, injector, latents, start_token_id, eos_token_id, num_slots, max_new_tokens, grammar,
                 warpers, do_sample, refill_at, max_forced, tokenizer):
    device = decoder.device
    latents = latents.to(device=device, dtype=next(injector.parameters()).dtype)
    count = len(latents)
    if count == 0:
        return
    max_forced = max_forced if grammar is not None else 0
    next_row = min(num_slots, count)
    tracks = None
    if isinstance(injector, FieldInjector):
        if tokenizer is None:
            raise ValueError("The field injector needs the tokenizer to follow each slot's fields.")
        tracks = _FieldTracks(injector, tokenizer, next_row)
    pool = _Pool(decoder, injector, latents[:next_row], list(range(next_row)), start_token_id,
                 max_new_tokens + max_forced + 1, tracks)
    refill_at = refill_at or (1 if pool.refills_in_step else max(1, num_slots // 8))
    logits = pool.first_logits
    if grammar is not None:
        grammar.start(range(next_row), range(next_row))
    generated: list[list[int]] = [[] for _ in range(next_row)]
    queues: list[list[int]] = [[] for _ in range(next_row)]  # the tokens each slot is fed in the next step
    slots, idle = list(range(next_row)), []

    head = pool.prefill_head  # None: ``logits`` are logits; else it makes logits of them
    while True:
        chosen = _next_tokens(logits, head, slots, grammar, warpers, do_sample)  # row i is slot slots[i]
        for slot, token in zip(slots, chosen.tolist()):
            ended = token == eos_token_id
            queues[slot] = [token]
            if not ended:
                generated[slot].append(token)
                if grammar is not None:
                    grammar.accept(slot, token)
                    forced = grammar.forced_run(slot, min(max_forced, max_new_tokens - len(generated[slot])))
                    generated[slot] += forced
                    queues[slot] += forced
            if ended or len(generated[slot]) >= max_new_tokens:
                yield pool.rows[slot], generated[slot], ended
                pool.release(slot)
                queues[slot] = []
                idle.append(slot)
        if next_row < count and (len(idle) >= refill_at or len(idle) == len(pool.rows)):
            newcomers = list(range(next_row, min(count, next_row + len(idle))))
            slots, idle, next_row = idle[: len(newcomers)], idle[len(newcomers) :], next_row + len(newcomers)
            for slot in slots:
                generated[slot] = []
            if grammar is not None:
                grammar.start(slots, newcomers)
            if pool.refills_in_step:  # the step below feeds their start token
                pool.place(slots, newcomers, latents[newcomers])
                for slot in slots:
                    queues[slot] = [start_token_id]
            else:
                logits, head = pool.refill(slots, newcomers, latents[newcomers]), pool.prefill_head  # first token
                continue
        live = [slot for slot, row in enumerate(pool.rows) if row is not None]
        if not live:
            return
        if next_row == count and 4 * len(idle) >= len(pool.rows):  # nothing left to refill: shrink the pool
            pool.keep(live)
            if grammar is not None:
                grammar.keep(live)
            queues, generated = [queues[s] for s in live], [generated[s] for s in live]
            live, idle = list(range(len(live))), []
        runs, queues = [queue[:MAX_RUN] for queue in queues], [queue[MAX_RUN:] for queue in queues]
        logits, head = pool.step(runs, live), pool.head
        slots = [slot for slot in live if not queues[slot]]  # the others still have forced tokens to feed
        logits = logits[slots] if len(slots) < len(logits) else logits


# Tokens a slot is fed per step at most: attention lays every run out as long as the longest, so a few long forced
# runs would make every slot attend with mostly empty queries. Adult, 256 slots, 1,000 rows: 81 rows/s with 2, 79
# with 3-9 (whole forced runs), 74 with 1.
MAX_RUN = 2


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
    tool_call_consistency: bool = True,
) -> tuple[list[str], int]:
    """The texts of :func:`decode_in_slots` in the order of ``latents`` (constrained by ``schema`` when given, and
    tool calls by their functions with ``tool_call_consistency``), and how many rows hit ``max_new_tokens`` before
    ending. ``progress`` (a tqdm bar) advances by one per row."""
    from ..data.record_tokenization import decoder_start_token_id

    grammar = None
    if schema is not None:
        vocab_size = decoder.get_output_embeddings().weight.shape[0]
        grammar = RecordGrammar(schema, tokenizer, vocab_size, fixed_values,
                                tool_call_consistency).reset(min(num_slots, len(latents)))
    ids: list[list[int] | None] = [None] * len(latents)
    truncated = 0
    rows = decode_in_slots(decoder, injector, latents, decoder_start_token_id(tokenizer), tokenizer.eos_token_id,
                           num_slots, max_new_tokens, grammar, token_warpers(do_sample, temperature, top_p), do_sample,
                           tokenizer=tokenizer)
    for row, tokens, ended in rows:
        ids[row], truncated = tokens, truncated + (not ended)
        if progress is not None:
            progress.update(1)
    return tokenizer.batch_decode(ids, skip_special_tokens=True), truncated
