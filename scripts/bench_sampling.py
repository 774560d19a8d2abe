#!/usr/bin/env python
"""Sampling speed against the floor: rows/s, FLOPs per row, the machine's matmul peak, and plain ``generate``.

For the Adult pipeline (issue 24; SmolLM2-135M cut to its first 4 layers, field injection):

    python scripts/bench_sampling.py /tmp/adult/model60 --num-samples 500 --threads 2

(on a machine shared with other jobs, also set ``OMP_NUM_THREADS`` to the same count). About a minute on two CPU
cores: loading SmolLM2, 500 rows ours, 500 rows plain ``generate``, one second of matmul timing.

Other sources of a pipeline:

    python scripts/bench_sampling.py DIR --num-samples 10000 --device cuda --dtype bfloat16
    python scripts/bench_sampling.py --preset tiny --schema-from tests/fixtures/adult_sample.csv --num-samples 256
    (``--preset`` builds an untrained soft-prompt pipeline on the preset's decoder: decoding does about the same
    work whether or not the VAE is trained; ``--pipeline DIR`` is the same as the positional DIR)

What it measures, in one process, one device, one dtype and one torch thread count:

1. **ours**: ``table_sampling.generate_records(pipe, n, seed=...)``, what ``ldlm sample`` runs (latent prior,
   slot-engine decoding under the schema grammar, parsing into a DataFrame), in its default chunks of rows (1,024 on a
   CPU; ``--chunk-size``) with a pool of ``--batch-size`` slots (default: the pipeline's own choice, 256 on a CPU).
   A pipeline without a schema is sampled with ``pipe(...)`` (text). Wall seconds are timed end to end, with
   the latent / decode / parse / grammar-mask seconds beside them. A two-row warm-up runs first, untimed.
2. **FLOPs per row** of that work, from the decoder actually loaded and the records actually written (counted
   inside the slot engine while it runs, so no second pass):

       2 x (decoder body parameters x positions through the body  +  LM-head parameters x positions needing logits)
       + 4 x layers x attention width x sum over body positions of the keys attended   (QK^T and AV)

   The latent injector's and the latent prior's own matmuls are shown apart (``extra_flops_per_row``), not in the
   floor: the floor is the decoder's work, the same kind of work plain ``generate`` does.

   - body parameters: the decoder's body as loaded (``get_decoder()``: the layers present, so a decoder cut with
     ``--decoder-layers`` counts only the layers kept; a LoRA adapter does not count: the slot engine folds it into
     the base weights while it decodes), embeddings excluded
     (a lookup, not a matmul);
   - positions through the body, per row: the injected prefix (``soft_prompt``: its soft tokens; ``memory``,
     ``embedding`` and ``field``: none; the memory's key/value slots are attended, not computed) + the start
     token + every token written except the last (whose logits chose ``eos``); padding the engine adds to a step
     is waste, not part of the floor, and is not counted;
   - positions needing logits: the tokens the engine drew from logits, i.e. where the grammar allowed more than
     one token (the first token and ``eos`` included). Tokens the grammar forces (a bitmask with one token, or
     the text ``find_jump_forward_string`` forces after a choice) need none. Without a grammar every token does;
   - LM-head parameters: the head as used: vocabulary x hidden, but with the ``field`` injector only its record
     vocabulary's rows (the slot engine scores only those tokens);
   - attention: a position attends to every earlier key of its row and itself (the prefix and, for ``memory``,
     the memory slots included), so a row of ``L`` body positions after ``M`` memory slots attends
     ``L*M + L*(L+1)/2`` keys; the width is query heads x head dim. Softmax, norms and activations are left out.
3. **peak**: the best rate of ``a @ b`` (256x576 by 576x1536, SmolLM2's hidden and MLP widths) in the decoder's
   dtype with torch's current thread count; ``percent of floor`` = 100 x FLOPs/row x rows/s / peak, i.e. how far
   our sampling is from the time the matmuls alone would take at that rate (100 = at the floor).
4. **plain** ``generate`` of the same decoder (LoRA included), no latent, no grammar, sampling (``top_k=0``),
   batches as wide as our slot pool, ``min_new_tokens = max_new_tokens =`` the mean tokens a record took in our
   run (``eos`` included); its FLOPs per row (bos + those tokens but the last through the body, a full-vocabulary
   head at every token) and percent of floor. ``ours/plain`` = our seconds per row / plain's (below 1: faster).
5. ``--great-rows-per-second X``: GReaT's rate, the ``sample_rows_per_s: X`` line scripts/bench_great.py prints
   (its own virtualenv; see that script's docstring), giving ``ours/great`` = our rows/s / X (above 1: faster).
   Run GReaT on the same machine with the same thread count for the ratio to mean anything.
6. ``--generate-engine`` also times our pipeline with the ``generate`` engine (not for the ``field`` injector;
   before issue 24 this ran by default), ``--unconstrained`` our slot engine without the grammar. The older
   spellings ``--pipeline``, ``--num-rows`` and ``--json`` still work.

Prints a readable summary; the last two lines are always ``ours/plain: X.XX`` and ``percent of floor: X`` (an
integer from 10 up, two significant digits below). ``--json-out PATH`` writes every number. Asserts nothing; on a
shared machine compare CPU seconds (``cpu_s``) as well as wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from dataclasses import asdict, dataclass

import torch

import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline class with diffusers)
from diffusers import DiffusionPipeline, EDMDPMSolverMultistepScheduler
from hf_latent_diffusion_lm.grammar import RecordGrammar
from hf_latent_diffusion_lm.data.record_tokenization import decoder_start_token_id, pad_token_id
from hf_latent_diffusion_lm.modeling.latent_injectors import FieldInjector, MemoryInjector
from hf_latent_diffusion_lm.pipelines import slot_decoding
from hf_latent_diffusion_lm.pipelines.batch_sizing import decoding_batch_size
from hf_latent_diffusion_lm.sampling.table_sampling import ACCELERATOR_CHUNK_ROWS, CPU_CHUNK_ROWS, generate_records

PEAK_SHAPE = (256, 576, 1536)  # a (256 x 576) @ b (576 x 1536): SmolLM2-135M's hidden and MLP widths


# -- FLOP accounting (pure functions, tested in tests/test_bench_sampling.py) ------------------------------------

@dataclass
class DecoderShape:
    """What the FLOP count needs of a decoder, read from the modules present."""

    layers: int  # transformer layers present (after any --decoder-layers cut)
    body_params: int  # parameters of the body's matmuls: all of get_decoder() but its embeddings
    head_params: int  # the full LM head (vocabulary x hidden, + bias)
    attention_width: int  # query heads x head dim
    hidden_size: int


def decoder_shape(decoder) -> DecoderShape:
    body = decoder.get_decoder()
    embedded = {id(p) for module in body.modules() if isinstance(module, torch.nn.Embedding)
                for p in module.parameters(recurse=False)}
    body_params = sum(p.numel() for name, p in body.named_parameters() if id(p) not in embedded and "lora_" not in name)
    stacks = [child for child in body.children() if isinstance(child, torch.nn.ModuleList)]
    if not stacks:
        raise ValueError(f"Cannot find the layer stack of {type(body).__name__} to count its layers.")
    layers = len(max(stacks, key=len))
    config = decoder.config
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    head = decoder.get_output_embeddings()
    return DecoderShape(layers=layers, body_params=body_params,
                        head_params=sum(p.numel() for p in head.parameters()), attention_width=heads * head_dim,
                        hidden_size=config.hidden_size)


def attended_keys(positions: int, offset: int = 0) -> int:
    """Keys attended by ``positions`` causal positions computed after ``offset`` keys already in the cache (each
    position sees the offset, the positions before it, and itself)."""
    return positions * offset + positions * (positions + 1) // 2


def decoder_flops(shape: DecoderShape, body_positions: int, logits_positions: int, attended: int,
                  head_params: int | None = None) -> dict:
    """Matmul FLOPs of the decoder: ``2 x params x positions`` for the body and the head, ``4 x layers x width x
    attended keys`` for attention. ``head_params`` overrides the full head (the field injector's record
    vocabulary)."""
    head = shape.head_params if head_params is None else head_params
    return {"decoder_body": 2 * shape.body_params * body_positions, "lm_head": 2 * head * logits_positions,
            "attention": 4 * shape.layers * shape.attention_width * attended}


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def injector_flops(injector, rows: int, body_positions: int, logits_positions: int) -> int:
    """The injector's own matmuls: its MLP once per row (soft prompt, memory slots, embedding offset, or the
    field states' shares), and for the field injector the state -> embedding projection at every body position and
    its own logits at every position that needed logits."""
    if isinstance(injector, FieldInjector):
        return 2 * (_params(injector.fields) * rows + _params(injector.embedding) * body_positions
                    + _params(injector.logits) * logits_positions)
    return 2 * _params(getattr(injector, "mlp", None)) * rows


def prefix_positions(injector) -> tuple[int, int]:
    """``(positions the injector adds through the body, key/value slots it puts in the cache)`` per row."""
    if isinstance(injector, MemoryInjector):
        return 0, injector.num_slots
    return int(getattr(injector, "num_prefix_positions", 0)), 0


# -- measuring ---------------------------------------------------------------------------------------------------

def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, device: torch.device, seconds: float = 1.0) -> float:
    """FLOP/s of ``a @ b`` (:data:`PEAK_SHAPE`) in ``dtype``: the best of five timed loops of about
    ``seconds / 5`` each, after a warm-up, with torch's current thread count."""
    m, k, n = PEAK_SHAPE
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=generator).to(device, dtype)
    b = torch.randn(k, n, generator=generator).to(device, dtype)
    out = torch.empty(m, n, device=device, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b, out=out)
    synchronize(device)
    start, calls = time.perf_counter(), 0
    while calls < 3 or time.perf_counter() - start < min(0.05, seconds / 10):
        torch.matmul(a, b, out=out)
        calls += 1
        synchronize(device)
    per_loop = max(1, int(calls * (seconds / 5) / (time.perf_counter() - start)))
    best = float("inf")
    for _ in range(5):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(per_loop):
            torch.matmul(a, b, out=out)
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / per_loop)
    return 2 * m * k * n / best


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class EngineCounter:
    """Counts, inside the slot engine while it runs, each decoded row's tokens (and whether ``eos`` ended it) and
    how many tokens were drawn from logits (the rest were forced by the grammar). Patches module globals of
    :mod:`slot_decoding` (looked up at call time); :meth:`close` restores them."""

    def __init__(self):
        self.rows: list[tuple[int, bool]] = []  # (tokens written without eos, ended by eos)
        self.drawn = 0
        self._saved = {name: getattr(slot_decoding, name) for name in ("decode_in_slots", "forced_tokens",
                                                                      "_next_tokens")}
        decode, forced, next_tokens = (self._saved[n] for n in ("decode_in_slots", "forced_tokens", "_next_tokens"))

        def counted_decode(*args, **kwargs):
            for row, ids, ended in decode(*args, **kwargs):
                self.rows.append((len(ids), bool(ended)))
                yield row, ids, ended

        def counted_forced(bitmask):
            chosen = forced(bitmask)
            self.drawn += int((chosen < 0).sum())
            return chosen

        def counted_next(outputs, head, slots, grammar, *args, **kwargs):
            if grammar is None:
                self.drawn += len(slots)
            return next_tokens(outputs, head, slots, grammar, *args, **kwargs)

        slot_decoding.decode_in_slots = counted_decode
        slot_decoding.forced_tokens = counted_forced
        slot_decoding._next_tokens = counted_next

    def reset(self) -> None:
        self.rows, self.drawn = [], 0

    def close(self) -> None:
        for name, value in self._saved.items():
            setattr(slot_decoding, name, value)


class StageClock:
    """Wall seconds spent in the pipeline's stages (latent prior, decoding, parsing) and in the grammar masks,
    by wrapping the methods on the instance (and :meth:`RecordGrammar.allowed`); :meth:`close` unwraps them."""

    STAGES = {"sample_latents": "latent_s", "decode": "decode_s", "_parse": "parse_s"}

    def __init__(self, pipe, device):
        self.pipe, self.device, self.seconds = pipe, device, {}
        self.reset()
        for method, key in self.STAGES.items():
            setattr(pipe, method, self._timed(getattr(pipe, method), key))
        self._allowed = RecordGrammar.allowed
        allowed, clock = self._allowed, self

        def timed_allowed(grammar, rows, positions=None):
            start = time.perf_counter()
            bitmask = allowed(grammar, rows, positions)
            clock.seconds["grammar_masks_s"] += time.perf_counter() - start
            return bitmask

        RecordGrammar.allowed = timed_allowed

    def _timed(self, method, key):
        def wrapper(*args, **kwargs):
            synchronize(self.device)
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                synchronize(self.device)
                self.seconds[key] += time.perf_counter() - start
        return wrapper

    def reset(self) -> None:
        self.seconds = {key: 0.0 for key in [*self.STAGES.values(), "grammar_masks_s"]}

    def close(self) -> None:
        for method in self.STAGES:
            self.pipe.__dict__.pop(method, None)
        RecordGrammar.allowed = self._allowed


def load_pipeline(args):
    if args.folder:
        if not os.path.isdir(args.folder):
            raise FileNotFoundError(args.folder)
        return DiffusionPipeline.from_pretrained(args.folder)
    from hf_latent_diffusion_lm import LatentDenoiserMLP, LatentDiffusionLMPipeline
    from hf_latent_diffusion_lm.data import TableSchema
    from hf_latent_diffusion_lm.pretrained import resolve_preset
    from hf_latent_diffusion_lm.training.components import build_vae, load_decoder_side

    schema = TableSchema.infer(args.schema_from, skipinitialspace=True) if args.schema_from else None
    models = resolve_preset(args.preset)
    side = load_decoder_side(models)
    vae = build_vae(side, models)  # soft prompt: the field injector needs a codec fitted on training records
    denoiser = LatentDenoiserMLP(latent_dim=vae.config.latent_dim, hidden_dim=models.denoiser_hidden_dim)
    scheduler = EDMDPMSolverMultistepScheduler.from_config(denoiser.preconditioning.config)
    return LatentDiffusionLMPipeline(vae=vae, denoiser=denoiser, scheduler=scheduler,
                                     decoder=side.decoder, tokenizer=side.tokenizer,
                                     encoder_tokenizer=side.encoder_tokenizer, schema=schema,
                                     max_new_tokens=args.max_new_tokens or 256, decoder_reference=side.reference)


def sample_ours(pipe, args, num_samples: int, seed: int, batch_size: int, chunk_size: int, **options) -> tuple:
    """Rows as ``ldlm sample`` makes them (``generate_records``; text through ``pipe(...)`` without a schema or
    grammar); returns ``(rows written, validity)``."""
    common = dict(num_inference_steps=args.inference_steps,
                  decoding=dict(batch_size=batch_size, max_new_tokens=args.max_new_tokens, **options))
    if pipe.schema is not None and options.get("constrained", True):
        frame = generate_records(pipe, num_samples, seed=seed, chunk_size=chunk_size, **common)
        return len(frame), frame.attrs["validity"]
    generator, written = torch.Generator().manual_seed(seed), 0
    for start in range(0, num_samples, chunk_size):
        count = min(chunk_size, num_samples - start)
        written += len(pipe(num_samples=count, generator=generator, output_type="text", **common).texts)
    return written, None


def run_ours(pipe, args, device, counter: EngineCounter, clock: StageClock, **options) -> dict:
    counter.reset()
    clock.reset()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    synchronize(device)
    start, cpu = time.perf_counter(), time.process_time()
    written, validity = sample_ours(pipe, args, args.num_samples, args.seed, args.batch_size, args.chunk_size,
                                    **options)
    synchronize(device)
    seconds = time.perf_counter() - start
    return {"total_s": seconds, "cpu_s": time.process_time() - cpu, **clock.seconds, "rows_decoded": args.num_samples,
            "rows_written": written, "validity": validity, "rows_per_s": args.num_samples / seconds,
            "seconds_per_row": seconds / args.num_samples, "peak_memory_gib": peak_memory_gib(device)}


def ours_flops(pipe, shape: DecoderShape, counter: EngineCounter, inference_steps: int) -> dict:
    """FLOPs per decoded row of the slot engine's run that ``counter`` watched (see the module docstring)."""
    injector = pipe.vae.injector
    prefix, memory = prefix_positions(injector)
    rows = len(counter.rows)
    if rows == 0:
        raise RuntimeError("The slot engine decoded no rows: nothing to count.")
    body = attended = written = 0
    for tokens, ended in counter.rows:
        positions = prefix + 1 + tokens - (not ended)  # a row cut at max_new_tokens never feeds its last token
        body, attended, written = body + positions, attended + attended_keys(positions, memory), written + tokens
    head = (len(injector.vocabulary) * shape.hidden_size if isinstance(injector, FieldInjector) else None)
    per_row = {key: value / rows for key, value in decoder_flops(shape, body, counter.drawn, attended, head).items()}
    extra = {"injector": injector_flops(injector, rows, body, counter.drawn) / rows,
             "latent_prior": 2 * (_params(pipe.denoiser) - _params(pipe.denoiser.noise_mlp)) * inference_steps}
    # (the noise level's embedding is computed once per sampling step for all rows, not per row)
    return {"flops_per_row": sum(per_row.values()), "flops_per_row_parts": per_row, "extra_flops_per_row": extra,
            "tokens_per_row": written / rows, "eos_per_row": sum(ended for _, ended in counter.rows) / rows,
            "body_positions_per_row": body / rows, "logits_positions_per_row": counter.drawn / rows,
            "attended_keys_per_row": attended / rows, "prefix_positions": prefix, "memory_slots": memory,
            "lm_head_params": head if head is not None else shape.head_params,
            "rows_cut_at_max_new_tokens": sum(not ended for _, ended in counter.rows)}


def run_plain(pipe, args, device, tokens_per_row: int, width: int, shape: DecoderShape) -> dict:
    """Plain ``generate`` of the decoder: batches of ``width`` rows, exactly ``tokens_per_row`` new tokens each."""
    start_token, seconds, cpu = decoder_start_token_id(pipe.tokenizer), 0.0, time.process_time()
    torch.manual_seed(args.seed)

    def generate(size: int, tokens: int):
        ids = torch.full((size, 1), start_token, device=device)
        return pipe.decoder.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, top_k=0,
                                     max_new_tokens=tokens, min_new_tokens=tokens,
                                     pad_token_id=pad_token_id(pipe.tokenizer))

    generate(min(2, args.num_samples), min(tokens_per_row, 4))  # warm-up, untimed
    cpu = time.process_time()
    for begin in range(0, args.num_samples, width):
        size = min(width, args.num_samples - begin)
        synchronize(device)
        start = time.perf_counter()
        generate(size, tokens_per_row)
        synchronize(device)
        seconds += time.perf_counter() - start
    parts = decoder_flops(shape, tokens_per_row, tokens_per_row, attended_keys(tokens_per_row))
    return {"total_s": seconds, "cpu_s": time.process_time() - cpu, "tokens_per_row": tokens_per_row,
            "batch": width, "rows_per_s": args.num_samples / seconds, "seconds_per_row": seconds / args.num_samples,
            "flops_per_row": sum(parts.values()), "flops_per_row_parts": parts}


def percent_text(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_sampling.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", help="a saved (trained) pipeline folder")
    parser.add_argument("--pipeline", dest="pipeline_option", metavar="DIR", help="the same as the positional folder")
    parser.add_argument("--preset", choices=["tiny", "small", "base"], help="an untrained pipeline on this preset")
    parser.add_argument("--schema-from", help="with --preset: a table whose inferred schema constrains decoding")
    parser.add_argument("--num-samples", "--num-rows", dest="num_samples", type=int, default=500,
                        help="rows to sample (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                        help="the decoder's and the VAE's dtype (the latent prior stays float32); default float32")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="slot pool width, also plain generate's batch (default: the pipeline's, 256 on a CPU)")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help=f"rows per pipeline call (default: generate_records', {CPU_CHUNK_ROWS} on a CPU, "
                             f"{ACCELERATOR_CHUNK_ROWS} on an accelerator)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the pipeline's")
    parser.add_argument("--inference-steps", type=int, default=20, help="latent prior steps (default 20)")
    parser.add_argument("--great-rows-per-second", type=float, default=None,
                        help="GReaT's rate: the 'sample_rows_per_s' line of scripts/bench_great.py")
    parser.add_argument("--generate-engine", action="store_true", help="also time our generate engine")
    parser.add_argument("--unconstrained", action="store_true", help="also time our slot engine without grammar")
    parser.add_argument("--peak-seconds", type=float, default=1.0, help="time spent measuring the matmul peak")
    parser.add_argument("--json-out", "--json", dest="json_out", help="also write every number to this JSON file")
    return parser


def main(argv=None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.folder and args.pipeline_option:
        parser.error("give the pipeline folder once (positional or --pipeline)")
    args.folder = args.folder or args.pipeline_option
    if bool(args.folder) == bool(args.preset):
        parser.error("give a pipeline folder (or --pipeline DIR), or --preset")
    if args.folder and not os.path.isdir(args.folder):
        parser.error(f"no pipeline folder {args.folder!r}")
    for name in ("num_samples", "batch_size", "chunk_size", "max_new_tokens", "inference_steps", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    if args.great_rows_per_second is not None and args.great_rows_per_second <= 0:
        parser.error("--great-rows-per-second must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    pipe = load_pipeline(args).to(device)
    pipe.decoder.to(dtype)
    pipe.vae.to(dtype)  # the injector works beside the decoder (the field head mixes their outputs); prior stays fp32
    pipe.set_progress_bar_config(disable=True)
    max_new_tokens = args.max_new_tokens or pipe.config.max_new_tokens
    if args.batch_size is None:
        args.batch_size = decoding_batch_size(pipe.decoder, pipe.vae.config, device, max_new_tokens)
    if args.chunk_size is None:
        args.chunk_size = CPU_CHUNK_ROWS if device.type == "cpu" else ACCELERATOR_CHUNK_ROWS
    width = min(args.batch_size, args.chunk_size, args.num_samples)  # the slot pool's width
    shape = decoder_shape(pipe.decoder)
    injector = pipe.vae.injector
    results = {
        "pipeline": args.folder or f"preset {args.preset} (untrained)", "device": str(device), "dtype": args.dtype,
        "threads": torch.get_num_threads(), "num_samples": args.num_samples, "seed": args.seed,
        "pool_width": width, "chunk_size": args.chunk_size, "max_new_tokens": max_new_tokens,
        "inference_steps": args.inference_steps, "injection_method": pipe.vae.config.injection_method,
        "constrained": pipe.schema is not None, "decoder": asdict(shape),
    }

    counter, clock = EngineCounter(), StageClock(pipe, device)
    try:
        sample_ours(pipe, args, min(2, args.num_samples), args.seed + 1, args.batch_size, args.chunk_size)  # warm-up
        ours = run_ours(pipe, args, device, counter, clock)
        ours.update(ours_flops(pipe, shape, counter, args.inference_steps))
        results["ours"] = ours
        if args.unconstrained and pipe.schema is not None:
            results["ours_unconstrained"] = run_ours(pipe, args, device, counter, clock, constrained=False)
        if args.generate_engine:
            if isinstance(injector, FieldInjector):
                results["ours_generate_engine"] = "skipped: the field injector decodes only with the slot engine"
            else:
                results["ours_generate_engine"] = run_ours(pipe, args, device, counter, clock, engine="generate")
    finally:
        counter.close()
        clock.close()

    peak = matmul_peak(dtype, device, args.peak_seconds)
    results["matmul_peak_flops"] = peak
    results["matmul_peak_shape"] = list(PEAK_SHAPE)
    ours["percent_of_floor"] = 100 * ours["flops_per_row"] * ours["rows_per_s"] / peak

    per_row = max(1, round(ours["tokens_per_row"] + ours["eos_per_row"]))
    plain = run_plain(pipe, args, device, per_row, width, shape)
    plain["percent_of_floor"] = 100 * plain["flops_per_row"] * plain["rows_per_s"] / peak
    results["plain_generate"] = plain
    results["ours_over_plain"] = ours["seconds_per_row"] / plain["seconds_per_row"]
    results["ours_cpu_over_plain"] = ours["cpu_s"] / plain["cpu_s"]
    if isinstance(results.get("ours_generate_engine"), dict):
        results["ours_generate_engine_over_plain"] = (results["ours_generate_engine"]["seconds_per_row"]
                                                      / plain["seconds_per_row"])
    if args.great_rows_per_second:
        results["great_rows_per_s"] = args.great_rows_per_second
        results["ours_over_great"] = ours["rows_per_s"] / args.great_rows_per_second
    results["percent_of_floor"] = ours["percent_of_floor"]

    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump(results, handle, indent=2)
    report(results)
    return results


def report(r: dict) -> None:
    ours, plain, shape, parts = r["ours"], r["plain_generate"], r["decoder"], r["ours"]["flops_per_row_parts"]
    print(f"pipeline: {r['pipeline']} ({r['injection_method']} injection, "
          f"{'grammar-constrained' if r['constrained'] else 'no schema'}); {r['device']}, decoder {r['dtype']}, "
          f"{r['threads']} torch threads")
    print(f"decoder: {shape['layers']} layers, body {shape['body_params'] / 1e6:.2f} M params, LM head "
          f"{shape['head_params'] / 1e6:.2f} M (as used: {ours['lm_head_params'] / 1e6:.2f} M), attention width "
          f"{shape['attention_width']}")
    validity = "" if ours["validity"] is None else f", validity {ours['validity']:.3f}"
    print(f"ours: {ours['rows_per_s']:.2f} rows/s ({r['num_samples']} rows in {ours['total_s']:.2f} s wall, "
          f"{ours['cpu_s']:.1f} s CPU; latent {ours['latent_s']:.2f} s, decode {ours['decode_s']:.2f} s, parse "
          f"{ours['parse_s']:.2f} s, grammar masks {ours['grammar_masks_s']:.2f} s; {ours['rows_written']} rows "
          f"written{validity}); pool {r['pool_width']} slots, chunks of {r['chunk_size']}")
    print(f"ours per row: {ours['tokens_per_row']:.1f} tokens written (+{ours['eos_per_row']:.2f} eos), "
          f"{ours['body_positions_per_row']:.1f} positions through the body (prefix {ours['prefix_positions']}), "
          f"{ours['logits_positions_per_row']:.1f} needing logits, {ours['attended_keys_per_row']:.0f} keys attended")
    extra = ours["extra_flops_per_row"]
    print(f"FLOPs/row: {ours['flops_per_row']:.4g} (decoder body {parts['decoder_body']:.3g}, LM head "
          f"{parts['lm_head']:.3g}, attention {parts['attention']:.3g}); not in the floor: injector "
          f"{extra['injector']:.3g}, latent prior {extra['latent_prior']:.3g}")
    m, k, n = r["matmul_peak_shape"]
    print(f"matmul peak: {r['matmul_peak_flops'] / 1e9:.1f} GFLOP/s ({m}x{k} @ {k}x{n}, {r['dtype']}, "
          f"{r['threads']} threads)")
    print(f"ours: {ours['flops_per_row'] * ours['rows_per_s'] / 1e9:.2f} GFLOP/s achieved, "
          f"percent of floor {percent_text(ours['percent_of_floor'])}")
    print(f"plain generate: {plain['rows_per_s']:.2f} rows/s ({plain['tokens_per_row']} tokens a row, batch "
          f"{plain['batch']}, {plain['total_s']:.2f} s wall, {plain['cpu_s']:.1f} s CPU), FLOPs/row "
          f"{plain['flops_per_row']:.4g}, percent of floor {percent_text(plain['percent_of_floor'])}")
    if "ours_unconstrained" in r:
        print(f"ours unconstrained: {r['ours_unconstrained']['rows_per_s']:.2f} rows/s")
    engine = r.get("ours_generate_engine")
    if engine is not None:
        print(f"ours (generate engine): {engine}" if isinstance(engine, str) else
              f"ours (generate engine)/plain: {r['ours_generate_engine_over_plain']:.2f}")
    print(f"ours CPU/plain CPU: {r['ours_cpu_over_plain']:.2f}")
    if "ours_over_great" in r:
        print(f"ours/great: {r['ours_over_great']:.2f} (GReaT {r['great_rows_per_s']:.3g} rows/s)")
    else:
        print("ours/great: not measured (pass --great-rows-per-second, the sample_rows_per_s of "
              "scripts/bench_great.py)")
    print(f"ours/plain: {r['ours_over_plain']:.2f}")
    print(f"percent of floor: {percent_text(r['percent_of_floor'])}")


if __name__ == "__main__":
    main()
