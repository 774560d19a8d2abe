#!/usr/bin/env python
"""Peer generators (SDV's GaussianCopula, CTGAN, TVAE; mostlyai-engine's TabularARGN) on UCI Adult, so our numbers sit beside theirs measured the
same way: same official train/test files, same reading, a fixed wall-clock fitting budget, and the synthetic CSV
then scored by `ldlm evaluate` like any other generator's output.

Runs in a separate environment with torch, sdv and ctgan (written against sdv 2.0.0 and ctgan 0.12.1), not this
package, which is why Adult is read inline here, replicating hf_latent_diffusion_lm.benchmark_data.load_adult:
", " separators, "?" kept as a category, the test file's junk first line skipped, the labels' trailing "." removed:

    python -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install torch  # a CPU build
    /tmp/peers-venv/bin/pip install sdv ctgan pandas
    /tmp/peers-venv/bin/python scripts/bench_peers.py --model tvae --time-budget-minutes 8 --num-samples 2000 \\
        --out /tmp/peers/tvae.csv

CTGAN/TVAE: one timed epoch picks the number of epochs that ends the fit within the budget (the fixed cost of
ctgan's per-column mode-specific normalization is timed apart from the epoch); the epoch loop also stops at the
deadline, since on a shared machine later epochs can run slower than the probe's (it prints the epochs run).
GaussianCopula has no epochs; the budget is only checked. mostlyai-engine (written against 2.7.3, in its own
virtualenv: `pip install torch==2.13.0 mostlyai-engine`, then `pip uninstall torchvision torchaudio`, whose wheels do
not match the CPU torch) takes the budget itself: its `max_training_time`, in minutes, less the time its split,
analysis and encoding took; it keeps its default epochs cap, validation share and early stopping. Prints `fit_seconds: X` (all fitting, the probe
included) and `sample_rows_per_s: Y`.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
from pathlib import Path

import pandas as pd



def _benchmark_data():
    """Our ``hf_latent_diffusion_lm/benchmark_data.py``, loaded by its path: it needs only numpy and pandas, and the
    peers' virtualenvs lack the rest of our package; so every model reads Adult through the one reader."""
    path = Path(__file__).resolve().parents[1] / "hf_latent_diffusion_lm" / "benchmark_data.py"
    spec = importlib.util.spec_from_file_location("ldlm_benchmark_data", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


benchmark_data = _benchmark_data()
ADULT_COLUMNS, ADULT_NUMERICAL = benchmark_data.ADULT_COLUMNS, benchmark_data.ADULT_NUMERICAL


def read_adult_train(data_dir: str | Path) -> pd.DataFrame:
    """Adult's official training split, read exactly as our evaluation reads it."""
    return benchmark_data.load_adult(data_dir).train


def make_synthesizer(model: str, epochs: int = 1):
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    columns = {name: {"sdtype": "numerical" if name in ADULT_NUMERICAL else "categorical"} for name in ADULT_COLUMNS}
    metadata = Metadata.load_from_dict({"columns": columns}, single_table_name="adult")
    if model == "gaussian_copula":
        return GaussianCopulaSynthesizer(metadata)
    cls = CTGANSynthesizer if model == "ctgan" else TVAESynthesizer
    return cls(metadata, epochs=epochs, enable_gpu=False)


def instrument_ctgan(state: dict) -> None:
    """Time ctgan's DataTransformer (fit + transform: the per-fit cost that does not grow with epochs), and make the
    epoch loop stop at state["deadline"]: an epoch starts only if the mean epoch so far still fits. Without it a
    machine that slows down after the probe (a neighbour's job) overruns the budget; CTGAN and TVAE have no learning
    rate schedule, so stopping early is the same as having asked for fewer epochs."""
    import ctgan.synthesizers.ctgan as ctgan_module
    import ctgan.synthesizers.tvae as tvae_module

    class TimedTransformer(ctgan_module.DataTransformer):
        def fit(self, *args, **kwargs):
            start = time.perf_counter()
            super().fit(*args, **kwargs)
            state["transformer"] += time.perf_counter() - start

        def transform(self, *args, **kwargs):
            start = time.perf_counter()
            result = super().transform(*args, **kwargs)
            state["transformer"] += time.perf_counter() - start
            return result

    def epochs_until_deadline(epochs, disable=True):
        start, state["epochs_run"] = time.perf_counter(), 0
        for epoch in epochs:
            mean_epoch = (time.perf_counter() - start) / epoch if epoch else state["epoch_s"]
            if time.perf_counter() + mean_epoch > state["deadline"]:
                return
            yield epoch
            state["epochs_run"] = epoch + 1

    ctgan_module.DataTransformer = tvae_module.DataTransformer = TimedTransformer
    ctgan_module.tqdm = tvae_module.tqdm = epochs_until_deadline


class MostlyEngine:
    """mostlyai-engine's file-based workflow (split, analyze, encode, train, generate in a workspace folder) behind
    the ``sample(num_rows=...)`` call SDV's synthesizers answer, so ``main`` treats every peer alike."""

    def __init__(self, workspace: Path):
        self.workspace = workspace

    def fit(self, train: pd.DataFrame, budget_s: float, start: float) -> None:
        from mostlyai import engine

        engine.init_logging()  # its per-epoch progress and early-stopping lines
        encodings = {name: "TABULAR_NUMERIC_AUTO" if name in ADULT_NUMERICAL else "TABULAR_CATEGORICAL"
                     for name in ADULT_COLUMNS}
        engine.split(tgt_data=train, model_type="TABULAR", tgt_encoding_types=encodings, workspace_dir=self.workspace)
        engine.analyze(workspace_dir=self.workspace)
        engine.encode(workspace_dir=self.workspace)
        minutes_left = (budget_s - (time.perf_counter() - start)) / 60.0
        print(f"split, analysis and encoding: {time.perf_counter() - start:.1f}s -> max_training_time "
              f"{minutes_left:.2f} min", flush=True)
        engine.train(max_training_time=minutes_left, device="cpu", workspace_dir=self.workspace)

    def sample(self, num_rows: int) -> dict[str, pd.DataFrame]:
        from mostlyai import engine

        engine.generate(sample_size=num_rows, device="cpu", workspace_dir=self.workspace)
        return {"adult": pd.read_parquet(self.workspace / "SyntheticData")}


def fit_within_budget(model: str, train: pd.DataFrame, budget_s: float, workspace: Path | None = None):
    if model == "mostlyai":
        start = time.perf_counter()
        synthesizer = MostlyEngine(workspace)
        synthesizer.fit(train, budget_s, start)
        return synthesizer, time.perf_counter() - start
    train = {"adult": train}  # SDV 2 takes and returns tables by name
    start = time.perf_counter()
    if model == "gaussian_copula":
        synthesizer = make_synthesizer(model)
        synthesizer.fit(train)
    else:
        state = {"transformer": 0.0, "epoch_s": 0.0, "deadline": math.inf}
        instrument_ctgan(state)
        probe = make_synthesizer(model, epochs=1)
        processed = probe.preprocess(train)
        preprocess_s = time.perf_counter() - start
        fit_start = time.perf_counter()
        probe.fit_processed_data(processed)
        state["epoch_s"] = epoch_s = time.perf_counter() - fit_start - state["transformer"]
        fixed_s = preprocess_s + state["transformer"]
        remaining = budget_s - (time.perf_counter() - start)
        epochs = max(1, math.floor((0.97 * remaining - fixed_s) / epoch_s))
        print(f"probe: fixed cost {fixed_s:.1f}s, one epoch {epoch_s:.1f}s, {remaining:.0f}s of budget left -> "
              f"epochs: {epochs}", flush=True)
        state["deadline"] = start + budget_s
        synthesizer = make_synthesizer(model, epochs=epochs)
        synthesizer.fit(train)
        print(f"epochs run: {state['epochs_run']} of {epochs}", flush=True)
    fit_s = time.perf_counter() - start
    if fit_s > budget_s:
        print(f"warning: the fit took {fit_s:.0f}s, over the {budget_s:.0f}s budget", flush=True)
    return synthesizer, fit_s


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--model", choices=["gaussian_copula", "ctgan", "tvae", "mostlyai"], required=True)
    parser.add_argument("--time-budget-minutes", type=float, default=5.0)
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--out", required=True, help="CSV of the synthetic rows")
    parser.add_argument("--workspace", default=None,
                        help="mostlyai-engine's workspace folder (default: a folder beside --out)")
    args = parser.parse_args(argv)

    train = read_adult_train(args.data_dir)
    print(f"adult train: {len(train)} rows; model: {args.model}; budget: {args.time_budget_minutes} min", flush=True)
    workspace = Path(args.workspace or Path(args.out).with_suffix(".engine-ws"))
    synthesizer, fit_s = fit_within_budget(args.model, train, 60.0 * args.time_budget_minutes, workspace)

    start = time.perf_counter()
    synthetic = synthesizer.sample(num_rows=args.num_samples)["adult"]
    sample_s = time.perf_counter() - start
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    synthetic[ADULT_COLUMNS].to_csv(args.out, index=False)
    print(f"wrote {len(synthetic)} rows to {args.out}")
    print(f"fit_seconds: {fit_s:.1f}")
    print(f"sample_rows_per_s: {len(synthetic) / sample_s:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
