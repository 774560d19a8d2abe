"""Continuous-batching decoding (slots refilled as records end) against the `generate` path."""

import pandas as pd
import pytest
import torch
import xgrammar as xgr

from hf_latent_diffusion_lm.data import TableSchema
from hf_latent_diffusion_lm.data.record_tokenization import decoder_start_token_id
from hf_latent_diffusion_lm.grammar import RecordGrammar
from hf_latent_diffusion_lm.pipelines.slot_decoding import decode_in_slots, forced_tokens, sample_tokens
from hf_latent_diffusion_lm.pipelines.grouped_query_attention import slot_attention
from hf_latent_diffusion_lm.testing import tiny_gpt2_decoder, tiny_pipeline
from hf_latent_diffusion_lm.tiny_models import tiny_decoder

COLUMNS = ["age", "sex", "race", "income", "hours-per-week"]


@pytest.fixture(scope="module")
def schema():
    frame = pd.read_csv("tests/fixtures/adult_sample.csv", skipinitialspace=True)[COLUMNS]
    return TableSchema.infer(frame)


def latents(n: int, seed: int = 1) -> torch.Tensor:
    return 3 * torch.randn(n, 8, generator=torch.Generator().manual_seed(seed))


def pipeline(method: str, decoder_kind: str, schema):
    decoder = tiny_gpt2_decoder() if decoder_kind == "gpt2" else None
    pipe = tiny_pipeline(injection_method=method, schema=schema, max_new_tokens=200, decoder=decoder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("decoder_kind", ["llama", "gpt2"])
@pytest.mark.parametrize("method", ["soft_prompt", "memory", "embedding"])
def test_greedy_records_are_the_same_with_slots_and_generate(method, decoder_kind, schema):
    pipe = pipeline(method, decoder_kind, schema)
    z = latents(11)
    for constrained in (False, True):
        by_generate = pipe.decode(z, batch_size=4, constrained=constrained, engine="generate")
        by_slots = pipe.decode(z, batch_size=4, constrained=constrained, engine="slots")
        assert by_slots == by_generate
    assert all(schema.validate(schema.parse(text)) == [] for text in by_slots)


def test_refilled_slots_decode_every_latent_once_as_if_alone(schema):
    pipe = pipeline("embedding", "llama", schema)
    z = latents(10)
    lengths, order = [], []
    grammar = RecordGrammar(schema, pipe.tokenizer, vocab_size=257).reset(5)
    for row, tokens, ended in decode_in_slots(pipe.decoder, pipe.vae.injector, z,
                                               decoder_start_token_id(pipe.tokenizer), pipe.tokenizer.eos_token_id,
                                               num_slots=5, max_new_tokens=200, grammar=grammar):
        order.append(row)
        lengths.append(len(tokens))
        assert ended
    assert sorted(order) == list(range(10))
    assert len(set(lengths)) > 1  # rows of different lengths shared the 5 slots, refilled as rows ended
    pooled = pipe.decode(z, batch_size=5, constrained=True, engine="slots")
    alone = [pipe.decode(z[i : i + 1], batch_size=1, constrained=True, engine="slots")[0] for i in range(10)]
    assert pooled == alone


def test_more_slots_than_latents_and_truncation_are_handled(schema):
    pipe = pipeline("soft_prompt", "llama", schema)
    texts = pipe.decode(latents(2), batch_size=8, max_new_tokens=5, constrained=True, engine="slots")
    assert [len(pipe.tokenizer(t)["input_ids"]) for t in texts] == [5, 5]


@pytest.mark.parametrize("method", ["soft_prompt", "memory"])
def test_same_seed_gives_the_same_sampled_rows(method, schema):
    pipe = pipeline(method, "llama", schema)
    first = pipe(num_samples=9, decoding={"batch_size": 3}, generator=torch.Generator().manual_seed(0)).texts
    again = pipe(num_samples=9, decoding={"batch_size": 3}, generator=torch.Generator().manual_seed(0)).texts
    other = pipe(num_samples=9, decoding={"batch_size": 3}, generator=torch.Generator().manual_seed(1)).texts
    assert first == again
    assert first != other
    assert all(schema.validate(schema.parse(text)) == [] for text in first)


def test_slots_refuse_generate_arguments(schema):
    pipe = pipeline("soft_prompt", "llama", schema)
    with pytest.raises(ValueError, match="engine='slots' takes no generate"):
        pipe.decode(latents(2), engine="slots", cache_implementation="static")
    with pytest.raises(ValueError, match="engine must be one of"):
        pipe.decode(latents(2), engine="fast")


def test_sampled_tokens_follow_the_softmax_and_skip_masked_tokens():
    torch.manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, float("-inf"), 2.0, float("-inf")], [float("-inf")] * 4 + [3.0]])
    drawn = sample_tokens(logits.repeat(50_000, 1)).view(50_000, 2)
    assert drawn[:, 1].eq(4).all()  # the only allowed token
    frequencies = torch.bincount(drawn[:, 0], minlength=5) / 50_000
    assert frequencies[[2, 4]].sum() == 0
    assert torch.allclose(frequencies, logits[0].softmax(-1), atol=0.01)


def test_forced_tokens_are_found_where_the_grammar_allows_exactly_one():
    allowed = [{5}, {0}, {31}, {32}, {40, 41}, {3, 300}, {299}, set(range(300))]
    bitmask = xgr.allocate_token_bitmask(len(allowed), 300)
    bitmask.zero_()
    for row, tokens in enumerate(allowed):
        for token in tokens:
            bitmask[row, token // 32] |= torch.tensor(1 << (token % 32), dtype=torch.int64).to(torch.int32)
    assert forced_tokens(bitmask).tolist() == [5, 0, 31, 32, -1, -1, 299, -1]


def test_slot_attention_attends_as_sdpa_and_restores_it():
    decoder = tiny_decoder(seed=0)  # 4 query heads over 2 key/value heads
    assert decoder.config.num_key_value_heads < decoder.config.num_attention_heads
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
    seen = torch.ones(4, 4, dtype=torch.bool).tril().expand(2, 1, 4, 4).clone()
    seen[0, :, :, 0] = False  # a per-row mask, as the slot pool's
    mask = torch.zeros(seen.shape).masked_fill_(~seen, torch.finfo(torch.float32).min)
    with torch.no_grad():
        expected = decoder(ids, attention_mask=mask).logits
        with slot_attention(decoder):
            assert decoder.config._attn_implementation != "sdpa"
            shared = decoder(ids, attention_mask=mask).logits
            padded = decoder(ids, attention_mask=torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])).logits
    assert decoder.config._attn_implementation == "sdpa"
    assert torch.allclose(shared, expected, atol=1e-5)
    assert torch.allclose(padded[1], expected[1], atol=1e-5)


def test_a_decoder_adapter_is_folded_in_while_decoding_and_the_base_weights_come_back_bit_for_bit():
    from hf_latent_diffusion_lm.modeling.decoder_adapter import add_decoder_lora, merged_adapter

    decoder = add_decoder_lora(tiny_decoder(), rank=2).eval()
    with torch.no_grad():
        for name, parameter in decoder.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.1, generator=torch.Generator().manual_seed(0))
    bases = [m.get_base_layer().weight.clone() for m in decoder.modules() if hasattr(m, "lora_A")]
    ids = torch.tensor([[1, 5, 9, 12]])
    with torch.no_grad():
        unmerged = decoder(input_ids=ids).logits
        with merged_adapter(decoder):
            assert all(m.merged for m in decoder.modules() if hasattr(m, "lora_A"))
            merged = decoder(input_ids=ids).logits
        after = decoder(input_ids=ids).logits
    assert torch.allclose(merged, unmerged, atol=1e-5) and torch.equal(after, unmerged)
    assert all(torch.equal(m.get_base_layer().weight, base)
               for m, base in zip((m for m in decoder.modules() if hasattr(m, "lora_A")), bases))


def test_the_cpu_pool_is_wide_unless_its_kv_cache_would_not_fit():
    from hf_latent_diffusion_lm.pipelines.batch_sizing import decoding_batch_size
    from hf_latent_diffusion_lm.testing import tiny_pipeline

    pipe = tiny_pipeline()
    cpu = torch.device("cpu")
    assert decoding_batch_size(pipe.decoder, pipe.vae.config, cpu, max_new_tokens=100) == 512
    config = pipe.vae.config
    per_row = 2 * config.decoder_num_layers * config.decoder_num_kv_heads * config.decoder_head_dim * 4  # per token
    tokens = (2 << 30) // (100 * per_row)  # records so long that 100 rows fill the 2 GiB budget
    assert decoding_batch_size(pipe.decoder, config, cpu, max_new_tokens=tokens) <= 100
