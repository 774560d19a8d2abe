"""Field injection for tables: positions agree between training and sampling, the table encoder's latent varies
with the row (no posterior collapse), the latent is read back, and a pipeline decodes, saves and reloads."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch
import xgrammar as xgr

from hf_latent_diffusion_lm import LatentVAEConfig, LatentVAEModel
from hf_latent_diffusion_lm.data import TableSchema
from hf_latent_diffusion_lm.data.field_codes import FieldCodec
from hf_latent_diffusion_lm.data.record_fields import (FieldInputs, FieldPositions, field_position_ids,
                                                       field_value_texts, token_texts)
from hf_latent_diffusion_lm.data.record_format import format_value
from hf_latent_diffusion_lm.data.record_tokenization import collate_records, tokenize_records

from conftest import CITIES, NAMES, make_records


def test_a_token_field_follows_top_level_separators_only(tokenizer):
    text = '{name: "a, b", tags: [1, 2], city: rome}'
    ids = tokenize_records([text], tokenizer)["input_ids"][0]
    positions = field_position_ids([ids], token_texts(tokenizer), num_fields=3, max_positions=64)[0]
    texts = token_texts(tokenizer)
    fields = {}
    for token, position in zip(ids, positions):
        fields.setdefault(position // 64, []).append(texts(token))
    assert "".join(fields[0]).endswith('name: "a, b"')  # the comma inside quotes is no separator
    assert "".join(fields[1]) == ", tags: [1, 2]"  # nor the one inside brackets
    assert "".join(fields[2]) == ", city: rome}"


def test_positions_fed_token_by_token_equal_the_training_positions(tokenizer):
    ids = tokenize_records(make_records(5), tokenizer)["input_ids"]
    texts = token_texts(tokenizer)
    for row, expected in zip(ids, field_position_ids(ids, texts, 3, 8)):
        tracker = FieldPositions(3, 8)
        assert [tracker.feed(texts(token)) for token in row] == expected


@pytest.mark.parametrize("record_format", ["keyed", "compact"])
def test_field_values_read_from_the_record_text_are_the_written_values(record_format):
    frame = pd.DataFrame({"name": ["ana", "x, y", ""], "age": [18, 89, 40], "score": [0.5, -1.25, 3.0]})
    schema = dataclasses.replace(TableSchema.infer(frame), record_format=record_format)
    for row in schema.records(frame):
        values = field_value_texts(schema.to_text(row), schema.names, keyed=record_format == "keyed")
        assert values == [format_value(column, row[column.name]) if row[column.name] is not None else ""
                          for column in schema.columns]


def _field_vae(tokenizer, decoder, texts, names):
    codec = FieldCodec.fit(texts, names, keyed=True)
    ids = tokenize_records(texts, tokenizer)["input_ids"]
    config = LatentVAEConfig.for_decoder(
        decoder.config, latent_dim=16, injection_method="field", injector_hidden_size=128, field_codec=codec.to_dict(),
        field_vocabulary=sorted({token for row in ids for token in row}), field_positions=8, field_hidden_size=64)
    return LatentVAEModel(config), codec


def _batch(texts, tokenizer, codec):
    features = tokenize_records(texts, tokenizer)
    rows = [dict(zip(features, values), text=text) for text, *values in zip(texts, *features.values())]
    return collate_records(rows, tokenizer, fields=FieldInputs(tokenizer, len(codec.fields), 8, codec))


def test_table_latent_varies_with_the_row_and_is_read_back(pretrained_decoder, tokenizer, training_records):
    torch.manual_seed(0)
    vae, codec = _field_vae(tokenizer, pretrained_decoder, training_records, ["name", "age", "city"])
    batch = _batch(training_records, tokenizer, codec)
    batch.pop("encoder_input_ids"), batch.pop("encoder_attention_mask")
    optimizer = torch.optim.AdamW(vae.parameters(), lr=3e-3)
    for step in range(150):  # the warm-up alone (no decoder), then the decoder reads z
        loss = vae(**batch, decoder=None if step < 100 else pretrained_decoder, beta=1e-3).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    vae.eval()
    with torch.no_grad():
        mu, logvar = vae.encode(field_indices=batch["field_indices"], field_scalars=batch["field_scalars"])
        args = batch["input_ids"], batch["attention_mask"], "none", batch["field_positions"]
        own = vae.reconstruction_nll(pretrained_decoder, mu, *args)
        others = vae.reconstruction_nll(pretrained_decoder, mu.roll(1, 0), *args)
    # The guard against posterior collapse: on most dimensions the means move across rows by more than the noise.
    assert (mu.std(0) > (0.5 * logvar).exp().mean(0)).float().mean() > 0.5
    assert (own < others).float().mean() > 0.9
    assert others.mean() - own.mean() > 0.05  # nats per token over whole records, mostly fixed syntax


@pytest.fixture(scope="module")
def field_pipeline(tmp_path_factory):
    from hf_latent_diffusion_lm.training import fit_pipeline

    folder = tmp_path_factory.mktemp("field") / "m"
    rows = [{"name": name, "age": 20 + i % 50, "city": CITIES[i % 4]} for i, name in enumerate(NAMES * 4)]
    pipe = fit_pipeline(pd.DataFrame(rows), folder, preset="tiny", max_steps=4, eval_every=4,
                        field_warmup_steps=10, diffusion_steps=10, decoder_layers=1, field_accuracy_rows=8)
    pipe.set_progress_bar_config(disable=True)
    return pipe, folder


def test_field_pipeline_decodes_valid_rows_and_reloads_identically(field_pipeline):
    from diffusers import DiffusionPipeline

    pipe, folder = field_pipeline
    assert pipe.vae.config.injection_method == "field"
    assert pipe.decoder_reference.num_layers == 1 and len(pipe.decoder.get_decoder().layers) == 1
    generator = torch.Generator().manual_seed(0)
    first = pipe(num_samples=6, generator=generator, output_type="records").records
    assert len(first) == 6 and all(not pipe.schema.validate(row) for row in first)
    again = DiffusionPipeline.from_pretrained(folder)
    assert len(again.decoder.get_decoder().layers) == 1
    second = again(num_samples=6, generator=torch.Generator().manual_seed(0), output_type="records").records
    assert second == first
    log = pd.read_csv(folder / "training" / "vae_log.csv")
    assert {"latent_gain", "val_other_latent_per_token", "dims_spread_over_noise"} <= set(log.columns)


def test_field_rows_started_inside_a_step_decode_as_if_alone(field_pipeline):
    pipe, _ = field_pipeline
    z = 3 * torch.randn(9, pipe.vae.config.latent_dim, generator=torch.Generator().manual_seed(2))
    pooled = pipe.decode(z, batch_size=3, constrained=True, do_sample=False)  # 9 rows through 3 slots
    alone = [pipe.decode(z[i : i + 1], batch_size=1, constrained=True, do_sample=False)[0] for i in range(9)]
    assert pooled == alone and len(set(pooled)) > 1


def test_record_vocabulary_scores_are_the_whole_vocabulary_scores(field_pipeline):
    """Sampling from the field head's record vocabulary only is sampling from the whole vocabulary: the same
    probabilities, the same argmax; a row whose grammar allows no record-vocabulary token uses the whole vocabulary."""
    from hf_latent_diffusion_lm.pipelines.slot_decoding import FieldHead, _allowed_scores

    pipe, _ = field_pipeline
    head = FieldHead(pipe.decoder, pipe.vae.injector)
    joined = torch.randn(4, head.hidden_size + pipe.vae.injector.state_size, generator=torch.Generator().manual_seed(0))
    words = (head.vocab_size + 31) // 32
    bitmask = torch.zeros(4, words, dtype=torch.int32)
    vocabulary = head.vocabulary.tolist()
    for row, tokens in enumerate([vocabulary[:3], vocabulary[::2], vocabulary[-1:] + [vocabulary[0]], vocabulary]):
        for token in tokens:
            bitmask[row, token // 32] |= torch.tensor(1 << (token % 32)).to(torch.int32)

    class Grammar:
        vocab_size = head.vocab_size

    small, ids = _allowed_scores(joined, head, bitmask, Grammar)
    assert ids is not None and small.shape == (4, len(vocabulary))
    full = head(joined)
    xgr.apply_token_bitmask_inplace(full, bitmask, vocab_size=head.vocab_size)
    assert torch.allclose(full.softmax(-1)[:, ids], small.softmax(-1), atol=1e-6)
    assert torch.equal(ids[small.argmax(-1)], full.argmax(-1))
    outside = next(t for t in range(head.vocab_size) if t not in set(vocabulary))
    bitmask[0] = 0
    bitmask[0, outside // 32] = torch.tensor(1 << (outside % 32)).to(torch.int32)
    whole, none = _allowed_scores(joined, head, bitmask, Grammar)
    assert none is None and whole.shape == (4, head.vocab_size) and whole[0].argmax() == outside


def test_a_bfloat16_decoder_writes_valid_field_rows(field_pipeline):
    """``ldlm sample --dtype bfloat16``: the decoder in bf16, the injector's states and logits meeting it."""
    from diffusers import DiffusionPipeline

    _, folder = field_pipeline
    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    pipe.decoder.to(torch.bfloat16)
    records = pipe(num_samples=6, generator=torch.Generator().manual_seed(0), output_type="records").records
    assert len(records) == 6 and all(not pipe.schema.validate(row) for row in records)
