#!/usr/bin/env python
"""Sampling speed: rows/s, tokens/s, peak memory and a per-stage breakdown, against plain `generate`.

Measures in one run, on one machine and dtype: our pipeline end to end with its slot engine (continuous batching,
``engine="slots"``) and with the ``generate`` engine (constrained; ``--unconstrained`` adds unconstrained runs),
plain ``decoder.generate`` of the same LM writing the same number of tokens per row as the slot engine wrote (the
floor we are measured against; ``tokens_of_the_texts`` is what the tokenizer would make of the same texts, fewer where
constrained decoding spelled keys or values in pieces), and GReaT's sampler when ``be-great`` is importable. Prints numbers, ending with ``ours/plain: X.XX``
(the slot engine's time over plain generate's); asserts nothing.

    python scripts/bench_sampling.py --pipeline DIR --num-rows 10000 --device cuda --dtype bfloat16
    python scripts/bench_sampling.py --preset small --schema-from tests/fixtures/adult_sample.csv --num-rows 256
    python scripts/bench_sampling.py --preset tiny --schema-from tests/fixtures/adult_sample.csv --num-rows 256

``--preset`` builds an untrained pipeline around the preset's decoder (random injector and prior): decoding
speed does not depend on training, so this measures the same work as a trained pipeline.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
from transformers import LogitsProcessor

import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline class with diffusers)
from diffusers import DiffusionPipeline, EDMDPMSolverMultistepScheduler
from hf_latent_diffusion_lm.data.record_tokenization import decoder_start_token_id, pad_token_id
from hf_latent_diffusion_lm.pipelines.slot_decoding import SlotGrammar


class TimedProcessor(LogitsProcessor):
    """Wraps a logits processor and adds up the time spent inside it (the constraint masks)."""

    def __init__(self, inner, clock):
        self.inner, self.clock = inner, clock

    def __call__(self, input_ids, scores):
        start = time.perf_counter()
        scores = self.inner(input_ids, scores)
        self.clock["constraint_masks"] += time.perf_counter() - start
        return scores


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CPU_SECONDS = {"total": 0.0}  # process CPU time spent inside `timed` (on a shared machine wall time is noisy)


def timed(device, fn, *args, **kwargs):
    synchronize(device)
    start, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    synchronize(device)
    CPU_SECONDS["total"] += time.process_time() - cpu
    return result, time.perf_counter() - start


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def load_pipeline(args):
    if args.pipeline:
        return DiffusionPipeline.from_pretrained(args.pipeline)
    from hf_latent_diffusion_lm import LatentDenoiserMLP, LatentDiffusionLMPipeline
    from hf_latent_diffusion_lm.data import TableSchema
    from hf_latent_diffusion_lm.pretrained import resolve_preset
    from hf_latent_diffusion_lm.training.components import build_vae_components

    schema = TableSchema.infer(args.schema_from, skipinitialspace=True) if args.schema_from else None
    parts = build_vae_components(args.preset)
    denoiser = LatentDenoiserMLP(latent_dim=parts.vae.config.latent_dim,
                                 hidden_dim=resolve_preset(args.preset).denoiser_hidden_dim)
    return LatentDiffusionLMPipeline(vae=parts.vae, denoiser=denoiser, scheduler=EDMDPMSolverMultistepScheduler(),
                                     decoder=parts.side.decoder, tokenizer=parts.side.tokenizer,
                                     encoder_tokenizer=parts.side.encoder_tokenizer, schema=schema,
                                     max_new_tokens=args.max_new_tokens or 256, decoder_reference=parts.side.reference)


def count_tokens(texts, tokenizer) -> int:
    """Tokens of the texts as the tokenizer writes them (+ eos): fewer than constrained decoding may write, where
    the grammar lets the LM spell a key or value in pieces."""
    return sum(len(ids) + 1 for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])


def counting_written_tokens(pipe, counter: dict):
    """Patch both engines so that ``counter["written"]`` adds up the tokens the LM wrote (each row's ids + eos):
    the decoding steps plain ``generate`` is given, so both write the same number of tokens."""
    from hf_latent_diffusion_lm.pipelines import slot_decoding

    slots, generate, eos = slot_decoding.decode_in_slots, pipe.vae.generate, pipe.tokenizer.eos_token_id

    def counted_slots(*args, **kwargs):
        for row, ids, ended in slots(*args, **kwargs):
            counter["written"] += len(ids) + ended
            yield row, ids, ended

    def counted_generate(*args, **kwargs):
        ids = generate(*args, **kwargs)
        ended = ids == eos
        lengths = torch.where(ended.any(dim=1), ended.int().argmax(dim=1) + 1, ids.shape[1])
        counter["written"] += int(lengths.sum())
        return ids

    slot_decoding.decode_in_slots, pipe.vae.generate = counted_slots, counted_generate


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pipeline", help="a saved LatentDiffusionLMPipeline directory")
    source.add_argument("--preset", choices=["tiny", "small", "base"], help="an untrained pipeline on this preset")
    parser.add_argument("--schema-from", help="with --preset: a table whose inferred schema constrains decoding")
    parser.add_argument("--num-rows", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--inference-steps", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16" if torch.cuda.is_available() else "float32")
    parser.add_argument("--unconstrained", action="store_true", help="also time unconstrained decoding")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    pipe = load_pipeline(args).to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = EDMDPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    generator = torch.Generator(device="cpu").manual_seed(0)
    n, results = args.num_rows, {"device": str(device), "dtype": args.dtype, "num_rows": args.num_rows,
                                 "batch_size": args.batch_size}

    # Stage 1: the latent prior (an MLP over a few hundred numbers per row).
    pipe.sample_latents(min(n, 64), args.inference_steps, generator)  # warm-up
    latents, seconds = timed(device, pipe.sample_latents, n, args.inference_steps, generator)
    results["latent_sampling_s"] = seconds

    # Stage 2: injection alone (building the decoder's inputs from z).
    start_ids = torch.full((min(n, args.batch_size), 1), decoder_start_token_id(pipe.tokenizer), device=device)
    _, seconds = timed(device, pipe.vae.injector.decoder_inputs, pipe.decoder,
                       latents[: len(start_ids)].to(dtype), start_ids, torch.ones_like(start_ids))
    results["injection_s_per_batch"] = seconds

    # Stage 3: our decoding with each engine, constrained (if there is a schema) and, on request, not.
    runs = [(engine, pipe.schema is not None) for engine in ("slots", "generate")]
    if args.unconstrained and pipe.schema is not None:
        runs += [(engine, False) for engine in ("slots", "generate")]
    counter = {"written": 0}
    counting_written_tokens(pipe, counter)
    for engine, constrained in runs:
        clock, counter["written"] = {"constraint_masks": 0.0}, 0
        original, original_mask = pipe._logits_processors, SlotGrammar.allowed
        pipe._logits_processors = lambda *a, **k: [TimedProcessor(p, clock) for p in original(*a, **k)]

        def timed_mask(self, slots):
            start = time.perf_counter()
            bitmask = original_mask(self, slots)
            clock["constraint_masks"] += time.perf_counter() - start
            return bitmask

        SlotGrammar.allowed = timed_mask
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        cpu = CPU_SECONDS["total"]
        texts, seconds = timed(device, pipe.decode, latents, batch_size=args.batch_size,
                               max_new_tokens=args.max_new_tokens, do_sample=True, constrained=constrained,
                               generator=torch.Generator(device="cpu").manual_seed(0), engine=engine)
        pipe._logits_processors, SlotGrammar.allowed = original, original_mask
        name = f"ours_{engine}_{'constrained' if constrained else 'unconstrained'}"
        tokens = counter["written"]
        entry = {"decode_s": seconds, "decode_cpu_s": CPU_SECONDS["total"] - cpu, "tokens": tokens,
                 "tokens_of_the_texts": count_tokens(texts, pipe.tokenizer),
                 "constraint_masks_s": clock["constraint_masks"], "peak_memory_gib": peak_memory_gib(device)}
        if pipe.schema is not None:
            start = time.perf_counter()
            _, validity = pipe._parse(texts)
            entry.update(parse_s=time.perf_counter() - start, validity=validity)
        total = results["latent_sampling_s"] + seconds + entry.get("parse_s", 0.0)
        entry.update(total_s=total, rows_per_s=n / total, tokens_per_s=tokens / seconds)
        results[name] = entry

    # Stage 4: plain generate writing the same number of tokens per row (no latent, no constraint, no parsing).
    kind = "constrained" if pipe.schema is not None else "unconstrained"
    reference, old_path = results[f"ours_slots_{kind}"], results[f"ours_generate_{kind}"]
    per_row = max(1, round(reference["tokens"] / n))
    start_token, seconds, cpu = decoder_start_token_id(pipe.tokenizer), 0.0, CPU_SECONDS["total"]
    torch.manual_seed(0)
    for begin in range(0, n, args.batch_size):
        size = min(args.batch_size, n - begin)
        ids = torch.full((size, 1), start_token, device=device)
        _, step = timed(device, pipe.decoder.generate, ids, attention_mask=torch.ones_like(ids), do_sample=True,
                        top_k=0, max_new_tokens=per_row, min_new_tokens=per_row, pad_token_id=pad_token_id(pipe.tokenizer))
        seconds += step
    results["plain_generate"] = {"total_s": seconds, "cpu_s": CPU_SECONDS["total"] - cpu, "tokens": per_row * n, "rows_per_s": n / seconds,
                                 "tokens_per_s": per_row * n / seconds}
    results["ours_over_plain"] = reference["total_s"] / seconds
    results["ours_generate_engine_over_plain"] = old_path["total_s"] / seconds
    plain_cpu = results["plain_generate"]["cpu_s"]
    results["decode_cpu_over_plain"] = {"slots": reference["decode_cpu_s"] / plain_cpu,
                                        "generate_engine": old_path["decode_cpu_s"] / plain_cpu}

    try:
        import be_great  # noqa: F401
        results["great"] = "installed: run scripts/benchmark.py --models great for its sampler"
    except ImportError:
        results["great"] = "skipped: be-great is not installed in this environment"

    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    print(f"ours (generate engine)/plain: {results['ours_generate_engine_over_plain']:.2f}")
    print(f"ours/plain: {results['ours_over_plain']:.2f}")
    return results


if __name__ == "__main__":
    main()
