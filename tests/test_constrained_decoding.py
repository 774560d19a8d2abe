"""Schema-constrained decoding: a random (worst-case) decoder still writes only valid records."""

import random
from pathlib import Path

import pytest
import torch
import xgrammar as xgr
from transformers import LogitsProcessorList

from hf_latent_diffusion_lm.data import TableSchema, read_table, record_problems, schema_grammar, validity_rate
from hf_latent_diffusion_lm.grammar import SchemaLogitsProcessor, grammar_compiler
from hf_latent_diffusion_lm.data.range_grammar import decimal_range, integer_range
from hf_latent_diffusion_lm.testing import tiny_decoder, tiny_tokenizer

FIXTURES = Path(__file__).parent / "fixtures"
COLUMNS = ["age", "workclass", "education-num", "sex", "capital-gain", "hours-per-week", "income"]
MAX_NEW_TOKENS = 160  # longer than any record of the small schema: the grammar ends each record with eos


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def decoder():
    return tiny_decoder(seed=0)


@pytest.fixture(scope="module")
def schema():
    frame = read_table(FIXTURES / "adult_sample.csv", skipinitialspace=True)[COLUMNS]
    return TableSchema.infer(frame, target="income")


def generate(decoder, tokenizer, processors, batch_size, soft_prompt=True, seed=0):
    """Sample like the pipeline: from a soft prompt (``inputs_embeds``) or from a 1-token ``bos`` prompt."""
    torch.manual_seed(seed)
    start = torch.full((batch_size, 1), tokenizer.bos_token_id)
    prompt = {"inputs_embeds": decoder.get_input_embeddings()(start)} if soft_prompt else {"input_ids": start}
    with torch.no_grad():
        ids = decoder.generate(**prompt, attention_mask=torch.ones_like(start), logits_processor=processors,
                               do_sample=True, top_k=0, max_new_tokens=MAX_NEW_TOKENS,
                               pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return tokenizer.batch_decode(ids if soft_prompt else ids[:, 1:], skip_special_tokens=True)


def test_random_decoder_writes_only_valid_records_when_constrained(schema, decoder, tokenizer):
    processor = SchemaLogitsProcessor(schema, tokenizer, vocab_size=decoder.config.vocab_size)
    texts = generate(decoder, tokenizer, LogitsProcessorList([processor]), batch_size=200)
    assert record_problems(schema, texts) == [[]] * 200
    records = [schema.parse(text) for text in texts]
    for column in schema.columns:
        values = [record[column.name] for record in records]
        if column.kind == "categorical":
            assert set(values) <= set(column.categories)
        else:
            assert all(column.minimum <= v <= column.maximum and isinstance(v, int) for v in values)
    assert len({tuple(r.values()) for r in records}) > 150  # sampling still explores: the mask only filters


def test_unconstrained_random_decoder_is_almost_never_valid(schema, decoder, tokenizer):
    texts = generate(decoder, tokenizer, LogitsProcessorList(), batch_size=200)
    assert validity_rate(schema, texts) <= 0.01


def test_fixed_values_per_row_and_for_all_rows_are_forced(schema, decoder, tokenizer):
    rows = [{"age": 17 + i, "income": ">50K" if i % 2 else "<=50K"} for i in range(6)]
    processor = SchemaLogitsProcessor(schema, tokenizer, decoder.config.vocab_size, fixed_values=rows)
    records = [schema.parse(t) for t in generate(decoder, tokenizer, [processor], 6, soft_prompt=False)]
    assert [{"age": r["age"], "income": r["income"]} for r in records] == rows
    assert all(schema.validate(r) == [] for r in records)
    shared = SchemaLogitsProcessor(schema, tokenizer, decoder.config.vocab_size, fixed_values={"sex": "Female"})
    assert {schema.parse(t)["sex"] for t in generate(decoder, tokenizer, [shared], 6)} == {"Female"}


def test_fixed_values_must_fit_the_schema_and_the_batch(schema, decoder, tokenizer):
    with pytest.raises(ValueError, match="'age': 200 is outside the range"):
        SchemaLogitsProcessor(schema, tokenizer, 257, fixed_values={"age": 200}).compiled_grammar({"age": 200})
    with pytest.raises(ValueError, match="unknown columns \\['agee'\\]"):
        schema_grammar(schema, {"agee": 30})
    processor = SchemaLogitsProcessor(schema, tokenizer, 257, fixed_values=[{"age": 30}] * 3)
    with pytest.raises(ValueError, match="3 rows but the batch has 2"):
        generate(decoder, tokenizer, [processor], 2)


def test_grammar_accepts_every_real_record(tokenizer):
    """The grammar is not narrower than the data: floats with 9 decimals, booleans, all categories."""
    schema = TableSchema.infer(FIXTURES / "shoppers_sample.csv")
    compiled = grammar_compiler(tokenizer, 257).compile_grammar(schema_grammar(schema))
    for row in schema.records(FIXTURES / "shoppers_sample.csv"):
        matcher = xgr.GrammarMatcher(compiled)
        assert matcher.accept_string(schema.to_text(row)) and matcher.accept_token(tokenizer.eos_token_id)


def test_text_missing_values_and_decimals_stay_valid(decoder, tokenizer):
    frame = read_table(FIXTURES / "shoppers_sample.csv")[["ExitRates", "Month", "Weekend"]].head(40)
    frame["ExitRates"] = frame["ExitRates"].round(3).where(frame.index % 3 != 0)
    frame["comment"] = [f'say "hi", {i}\n{"é" * (i % 4)}' for i in range(40)]
    schema = TableSchema.infer(frame, text=["comment"])
    processor = SchemaLogitsProcessor(schema, tokenizer, decoder.config.vocab_size)
    texts = generate(decoder, tokenizer, [processor], 64)
    assert record_problems(schema, texts) == [[]] * 64


@pytest.mark.parametrize("seed", range(3))
def test_number_grammars_accept_exactly_the_range(tokenizer, seed):
    rng, compiler = random.Random(seed), grammar_compiler(tokenizer, 257)

    def accepts(grammar, text):
        matcher = xgr.GrammarMatcher(compiler.compile_grammar(f"root ::= {grammar}"))
        return matcher.accept_string(text) and matcher.accept_token(tokenizer.eos_token_id)

    low = rng.randint(-500, 500)
    high = low + rng.randint(0, 1500)
    grammar = integer_range(low, high)
    for value in [*range(low - 20, low + 20), *range(high - 20, high + 20), rng.randint(low, high)]:
        assert accepts(grammar, str(value)) == (low <= value <= high), value
    scale = 1000
    grammar = decimal_range(low / scale, high / scale, 3)
    for units in [*range(low - 20, low + 20), *range(high - 20, high + 20)]:
        text = f"{units / scale:.3f}".rstrip("0").rstrip(".")
        if text not in ("-0", "0"):
            assert accepts(grammar, text) == (low <= units <= high), text

