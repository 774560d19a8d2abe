"""Tool-call records end to end on BFCL: fit, sample with re-draws, evaluate; prints one table and writes JSON.

    python scripts/bench_tool_calls.py --bfcl ../shared/data/bfcl --out bench-toolcalls \
        --preset small --max-steps 30 --diffusion-steps 400 --num-samples 100

Stage timings are process CPU seconds (the machine may be shared, so wall time says little).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from diffusers import DiffusionPipeline

import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline with diffusers)
from hf_latent_diffusion_lm.benchmark_data import load_bfcl
from hf_latent_diffusion_lm.data.json_lines import write_json_lines
from hf_latent_diffusion_lm.evaluation.record_evaluation import evaluate_records, write_record_report
from hf_latent_diffusion_lm.sampling.record_sampling import sample_records
from hf_latent_diffusion_lm.training import fit_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bfcl", default="../shared/data/bfcl")
    parser.add_argument("--out", default="bench-toolcalls")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--max-steps", type=int, default=30, help="VAE steps")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--diffusion-steps", type=int, default=400)
    parser.add_argument("--num-samples", type=int, default=100)
    parser.add_argument("--max-rounds", type=int, default=10, help="re-draw rounds for tool-call consistency")
    parser.add_argument("--max-new-tokens", type=int, default=1280, help="decoding budget (longest record: ~1000)")
    parser.add_argument("--max-length", type=int, default=1024, help="longest record in decoder tokens")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse-model", action="store_true", help="sample from OUT/model fitted by an earlier run")
    parser.add_argument("--no-embeddings", action="store_true", help="skip alpha-precision/beta-recall (MiniLM)")
    args = parser.parse_args()
    out = Path(args.out)
    results = {"command": vars(args), "cpu_seconds": {}}

    def stage(name: str, began: float) -> None:
        results["cpu_seconds"][name] = round(time.process_time() - began, 1)
        (out / "results.json").write_text(json.dumps(results, indent=2))

    out.mkdir(parents=True, exist_ok=True)
    records = load_bfcl(args.bfcl)
    results["records"] = len(records)
    began = time.process_time()
    if args.reuse_model:
        results = {**json.loads((out / "results.json").read_text()), "command": vars(args)}
    else:
        fit_pipeline(records, out / "model", preset=args.preset, max_steps=args.max_steps, batch_size=args.batch_size,
                     max_length=args.max_length, eval_every=10, diffusion_steps=args.diffusion_steps,
                     seed=args.seed, diffusion_options={"hidden_dim": 512, "eval_every": 50})
        stage("fit", began)

    pipe = DiffusionPipeline.from_pretrained(out / "model")
    pipe.set_progress_bar_config(disable=True)
    began = time.process_time()
    sample = sample_records(pipe, args.num_samples, seed=args.seed, max_rounds=args.max_rounds,
                            decoding={"max_new_tokens": args.max_new_tokens, "batch_size": 50})
    write_json_lines(sample.records, out / "synthetic.jsonl")
    results["sampling"] = {"schema_validity_first_draw": sample.schema_validity,
                           "semantic_validity_first_draw": sample.first_draw_semantic_validity,
                           "semantic_validity_after_redraws": sample.semantic_validity, "redraws": sample.redraws}
    stage("sample", began)

    began = time.process_time()
    report = evaluate_records(records, sample.records, embeddings=not args.no_embeddings)
    write_record_report(report, out / "evaluation")
    results["evaluation"] = report.headline()
    results["diversity"] = report.diversity
    stage("evaluate", began)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
