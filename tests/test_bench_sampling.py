"""scripts/bench_sampling.py: its FLOP count follows the formula on a known toy decoder, and a run on a tiny saved
pipeline ends with the two lines a reader parses (no wall-clock assertions)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from hf_latent_diffusion_lm.data import TableSchema
from hf_latent_diffusion_lm.pretrained import keep_first_layers
from hf_latent_diffusion_lm.testing import tiny_decoder, tiny_pipeline

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_sampling.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_sampling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script runs
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_decoder_shape_counts_the_layers_present_and_flops_follow_the_formula(bench):
    decoder = tiny_decoder()
    config = decoder.config
    shape = bench.decoder_shape(decoder)
    layers = decoder.get_decoder().layers
    assert shape.layers == len(layers) == config.num_hidden_layers
    norm = decoder.get_decoder().norm
    expected_body = sum(p.numel() for p in layers.parameters()) + sum(p.numel() for p in norm.parameters())
    assert shape.body_params == expected_body  # embeddings excluded
    assert shape.head_params == config.vocab_size * config.hidden_size
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    assert shape.attention_width == config.num_attention_heads * head_dim

    assert bench.attended_keys(3) == 1 + 2 + 3 and bench.attended_keys(3, offset=2) == 3 + 4 + 5
    flops = bench.decoder_flops(shape, body_positions=10, logits_positions=4, attended=bench.attended_keys(10))
    assert flops == {"decoder_body": 2 * shape.body_params * 10, "lm_head": 2 * shape.head_params * 4,
                     "attention": 4 * shape.layers * shape.attention_width * 55}
    longer = bench.decoder_flops(shape, 20, 8, bench.attended_keys(20))
    assert all(longer[key] > flops[key] for key in flops)  # longer records cost more in every term

    cut = bench.decoder_shape(keep_first_layers(tiny_decoder(), 1))
    assert cut.layers == 1 and cut.body_params < shape.body_params and cut.head_params == shape.head_params


def test_a_tiny_run_ends_with_ours_over_plain_and_percent_of_floor(bench, tmp_path, capsys):
    table = pd.DataFrame({"code": [1, 2, 3, 1, 2, 3], "age": [30, 41, 25, 33, 52, 47],
                          "city": ["oslo", "rome", "lima", "oslo", "rome", "kyiv"]})
    tiny_pipeline(schema=TableSchema.infer(table), max_new_tokens=96).save_pretrained(tmp_path / "model")
    threads = torch.get_num_threads()
    try:
        results = bench.main([str(tmp_path / "model"), "--num-samples", "5", "--batch-size", "2", "--threads", "1",
                              "--peak-seconds", "0.05", "--great-rows-per-second", "0.5",
                              "--json-out", str(tmp_path / "bench.json")])
    finally:
        torch.set_num_threads(threads)
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"ours/plain: \d+\.\d\d", lines[-2]), lines[-2]
    assert re.fullmatch(r"percent of floor: [0-9.e+-]+", lines[-1]), lines[-1]
    assert float(lines[-1].split(": ")[1]) > 0 and float(lines[-2].split(": ")[1]) > 0
    assert any(line.startswith("ours/great: ") for line in lines)

    ours, shape = results["ours"], bench.DecoderShape(**results["decoder"])
    assert ours["rows_decoded"] == 5 and ours["flops_per_row"] > 0
    assert ours["prefix_positions"] == 4  # the tiny pipeline's soft prompt
    cut = ours["rows_cut_at_max_new_tokens"] / 5
    assert ours["body_positions_per_row"] == pytest.approx(4 + 1 + ours["tokens_per_row"] - cut)
    assert 1 <= ours["logits_positions_per_row"] <= ours["tokens_per_row"] + 1  # forced tokens need none
    expected = (2 * (shape.body_params * ours["body_positions_per_row"]
                     + shape.head_params * ours["logits_positions_per_row"])
                + 4 * shape.layers * shape.attention_width * ours["attended_keys_per_row"])
    assert ours["flops_per_row"] == pytest.approx(expected)
    plain = results["plain_generate"]
    assert plain["tokens_per_row"] == max(1, round(ours["tokens_per_row"] + ours["eos_per_row"]))
    assert plain["batch"] == 2 and plain["flops_per_row"] > 0
    assert json.loads((tmp_path / "bench.json").read_text())["ours_over_plain"] == pytest.approx(
        results["ours_over_plain"])


def test_a_missing_pipeline_folder_is_one_usage_error(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        bench.main([str(tmp_path / "nope")])
    assert stopped.value.code == 2 and "no pipeline folder" in capsys.readouterr().err
