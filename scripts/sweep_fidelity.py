#!/usr/bin/env python
"""Which stage-1 levers make the latent carry the whole record? Train stage 1 for the same CPU-time budget per
configuration and write one table row each: field and record accuracy (greedy, schema-constrained reconstruction of
the validation records), NLL per token, tokens per record, training throughput and peak memory.

    python scripts/sweep_fidelity.py --out runs/sweep --cpu-minutes 3 --threads 1          # bundled demo table
    python scripts/sweep_fidelity.py --out runs/sweep --config lora16-compact:decoder_lora_rank=16,record_format=compact

Each configuration runs in its own process (so its peak memory is its own); the budget is CPU time
(``time.process_time``: all threads, loading and evaluations included), which a shared machine's load does not
change. Results are appended to ``OUT/results.jsonl`` as they come and written as a Markdown table to
``OUT/results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_CONFIGS = [
    "frozen-keyed:record_format=keyed",
    "frozen-compact:record_format=compact",
    "lora8-keyed:decoder_lora_rank=8,record_format=keyed",
    "lora8-compact:decoder_lora_rank=8,record_format=compact",
]
COLUMNS = ["configuration", "field accuracy", "record accuracy", "accuracy by kind", "numbers' relative error",
           "val NLL/token",
           "tokens/record", "steps", "rows/CPU-s", "rows/s (wall)", "peak RSS (MiB)"]


def parse_config(spec: str) -> tuple[str, dict]:
    """``name:key=value,key=value`` -> (name, overrides of VAETrainingConfig; values read as JSON when they parse)."""
    name, _, options = spec.partition(":")
    overrides = {}
    for item in filter(None, options.split(",")):
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return name, overrides


def run_one(args, name: str, overrides: dict) -> dict:
    """Train one configuration in this process and measure it."""
    import torch

    from hf_latent_diffusion_lm.training.field_accuracy import TRAINING_SUMMARY
    from hf_latent_diffusion_lm.training.vae_training import VAETrainingConfig, train_vae

    torch.set_num_threads(args.threads)
    output = Path(args.out) / name
    config = VAETrainingConfig(
        data=args.data, output_dir=str(output), preset=args.preset, columns=args.columns.split(","),
        read_options=args.read_options, target=args.target, batch_size=args.batch_size,
        learning_rate=args.learning_rate, max_steps=10**9, eval_every=args.eval_every, checkpoint_every=10**9,
        validation_fraction=args.validation_fraction, max_cpu_seconds=args.cpu_minutes * 60, seed=args.seed,
        **overrides)
    wall, cpu = time.perf_counter(), time.process_time()
    train_vae(config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    summary = json.loads((output / TRAINING_SUMMARY).read_text())
    with open(output / "vae_log.csv") as log:
        steps = sum(1 for _ in log) - 1
    rows = steps * config.batch_size
    return {
        "configuration": name, "field accuracy": summary["field_accuracy"],
        "record accuracy": summary["record_accuracy"], "accuracy by kind": summary["kind_accuracy"],
        "numbers' relative error": summary["numeric_relative_error"],
        "val NLL/token": summary["val_reconstruction_per_token"],
        "tokens/record": summary["tokens_per_record"], "steps": steps, "best step": summary["step"],
        "rows/CPU-s": rows / cpu, "rows/s (wall)": rows / wall, "cpu_seconds": cpu, "wall_seconds": wall,
        "peak RSS (MiB)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "overrides": overrides,
    }


def markdown(results: list[dict]) -> str:
    def cell(key, value):
        if key in ("field accuracy", "record accuracy"):
            return f"{value:.1%}"
        if key == "accuracy by kind":
            return ", ".join(f"{kind} {share:.1%}" for kind, share in value.items())
        if key == "numbers' relative error":
            return ", ".join(f"{name} {error:.2f}" for name, error in value.items())
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(key, result[key]) for key in COLUMNS) + " |" for result in results]
    return "\n".join(lines) + "\n"


def main() -> None:
    from hf_latent_diffusion_lm.demo import DEMO_COLUMNS, READ_OPTIONS, demo_data_path

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(demo_data_path()), help="the table (default: the bundled demo table)")
    parser.add_argument("--columns", default=",".join(DEMO_COLUMNS))
    parser.add_argument("--read-options", default=READ_OPTIONS)
    parser.add_argument("--target", default="income")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--out", required=True, help="folder for each configuration's run and the results")
    parser.add_argument("--config", action="append", metavar="NAME:KEY=VALUE,...",
                        help=f"a configuration (repeatable; default: {' '.join(DEFAULT_CONFIGS)})")
    parser.add_argument("--cpu-minutes", type=float, default=5.0, help="CPU-time budget per configuration")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--eval-every", type=int, default=10**9,
                        help="steps between evaluations (default: only at the end of the budget)")
    parser.add_argument("--validation-fraction", type=float, default=0.05,
                        help="held-out share of the rows; field accuracy is measured on all of them")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-one", metavar="SPEC", help=argparse.SUPPRESS)  # internal: one configuration
    args = parser.parse_args()

    if args.run_one:
        print(json.dumps(run_one(args, *parse_config(args.run_one))))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for spec in args.config or DEFAULT_CONFIGS:
        print(f"== {spec} ({args.cpu_minutes} CPU-minutes)", flush=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        finished = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--run-one", spec], env=env, check=True,
                                  stdout=subprocess.PIPE, text=True)
        result = json.loads(finished.stdout.strip().splitlines()[-1])
        results.append(result)
        with open(out / "results.jsonl", "a") as log:
            log.write(json.dumps(result) + "\n")
        print(markdown([result]), flush=True)
    (out / "results.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
