"""Cost of schema-constrained decoding per generated token: grammar mask vs decoder step.

    python scripts/bench_constraint.py --batch-size 64 --max-new-tokens 400

Decodes records of the Adult schema (inferred from the bundled sample) with the tiny random Llama, sampling,
once with the constraint (timing the logits processor's own work) and once without (same number of steps).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from hf_latent_diffusion_lm.data import TableSchema, validity_rate
from hf_latent_diffusion_lm.grammar import SchemaLogitsProcessor
from hf_latent_diffusion_lm.testing import tiny_decoder, tiny_tokenizer

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "adult_sample.csv"


class Timed(LogitsProcessor):
    """Measures the wrapped processor's wall time per call."""

    def __init__(self, processor, device):
        self.processor, self.device, self.seconds, self.calls = processor, device, 0.0, 0

    def __call__(self, input_ids, scores):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        scores = self.processor(input_ids, scores)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=400)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    tokenizer, decoder = tiny_tokenizer(), tiny_decoder(seed=0).to(device)
    schema = TableSchema.infer(SAMPLE, skipinitialspace=True)
    start = torch.full((args.batch_size, 1), tokenizer.bos_token_id, device=device)
    options = dict(input_ids=start, attention_mask=torch.ones_like(start), do_sample=True, top_k=0,
                   pad_token_id=tokenizer.pad_token_id)

    def run(processors, **extra):
        torch.manual_seed(0)
        if device.type == "cuda":
            torch.cuda.synchronize()
        begin = time.perf_counter()
        with torch.no_grad():
            ids = decoder.generate(**options, logits_processor=processors, **extra)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return ids, time.perf_counter() - begin

    run(LogitsProcessorList(), eos_token_id=tokenizer.eos_token_id, max_new_tokens=16)  # warm-up
    grammar_start = time.perf_counter()
    SchemaLogitsProcessor(schema, tokenizer, decoder.config.vocab_size).compiled_grammar()
    compile_seconds = time.perf_counter() - grammar_start
    timed = Timed(SchemaLogitsProcessor(schema, tokenizer, decoder.config.vocab_size), device)
    ids, constrained_seconds = run(LogitsProcessorList([timed]), eos_token_id=tokenizer.eos_token_id,
                                   max_new_tokens=args.max_new_tokens)
    steps = timed.calls
    texts = tokenizer.batch_decode(ids[:, 1:], skip_special_tokens=True)
    _, plain_seconds = run(LogitsProcessorList(), eos_token_id=None, min_new_tokens=steps, max_new_tokens=steps)

    mask_ms = 1e3 * timed.seconds / steps
    decoder_ms = 1e3 * plain_seconds / steps
    print(f"device={device} batch={args.batch_size} steps={steps} validity={validity_rate(schema, texts):.3f}")
    print(f"grammar compile (first time, adult schema): {1e3 * compile_seconds:.1f} ms")
    print(f"constraint (advance + bitmask + apply): {mask_ms:.3f} ms/step = {mask_ms / args.batch_size:.4f} ms/token")
    print(f"decoder step (plain generate): {decoder_ms:.3f} ms/step = {decoder_ms / args.batch_size:.4f} ms/token")
    print(f"constrained generate total: {1e3 * constrained_seconds / steps:.3f} ms/step "
          f"(overhead {100 * (constrained_seconds - plain_seconds) / plain_seconds:+.0f}% vs plain)")


if __name__ == "__main__":
    main()
