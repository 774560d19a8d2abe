#!/usr/bin/env python
"""Quality benchmark on the TabSyn protocol: every generator trained on the same split, sampled to the training
split's size, evaluated with the same metrics, and the rows appended to BENCHMARKS.md with this exact command.

    python scripts/benchmark.py --data-dir ../shared/data --datasets adult,magic,shoppers,beijing \
        --models ours,ctgan,tvae,great,prompt,real --out runs/benchmark --device cuda

Generators: ``ours`` (``hf_latent_diffusion_lm.training.fit.fit_pipeline``), ``ctgan`` and ``tvae`` (the ``ctgan``
package), ``great`` (``be-great``, which pins older transformers: install it in its own venv and run this script
there, e.g. ``python -m venv .venv-great && .venv-great/bin/pip install be-great -e .[eval]``), ``prompt`` (SmolLM2
prompted with a few real rows as CSV lines; unparseable lines are dropped and count against validity) and ``real``
(the training split itself: the ceiling, and a copier for the privacy columns). Prints numbers; asserts nothing.

Privacy (``--holdout half``, the default): every generator trains on one half of the training split and the other
half is the holdout of the DCR share and the membership-inference attack (both 0.5 ideal; a copier scores 1.0).
``--holdout test`` trains on the whole training split and uses the test split as holdout (the training reference is
then subsampled to the test size, which caps a copier's DCR share at 0.5 + 0.5 * n_test / n_train).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import io
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from hf_latent_diffusion_lm.benchmark_data import LOADERS, BenchmarkDataset, load_benchmark_dataset, privacy_halves
from hf_latent_diffusion_lm.data.table_schema import TableSchema
from hf_latent_diffusion_lm.evaluation import evaluate, write_report

MODELS = ("ours", "ctgan", "tvae", "great", "prompt", "real")
PROMPT_EXAMPLES = 8


def generate_ours(data: BenchmarkDataset, num_rows: int, args, out_dir: Path) -> pd.DataFrame:
    """Our pipeline, trained through the training package (kept in one function so the call is easy to adapt)."""
    try:
        from hf_latent_diffusion_lm.training.fit import fit_pipeline
    except ImportError as error:
        raise RuntimeError(f"'ours' needs hf_latent_diffusion_lm.training.fit.fit_pipeline, which is not importable: "
                           f"{error}") from error
    from hf_latent_diffusion_lm.sampling.table_sampling import generate_records

    on_gpu = args.device.startswith("cuda")
    pipe = fit_pipeline(data.train, out_dir / "pipeline", preset=args.preset, target=data.target,
                        max_steps=3000 if on_gpu else 200, batch_size=64 if on_gpu else 8,
                        mixed_precision="bf16" if on_gpu else "no")
    pipe.set_progress_bar_config(disable=True)
    pipe.to(args.device, torch.bfloat16 if on_gpu else torch.float32)
    return generate_records(pipe, num_rows, seed=0, chunk_size=8192 if on_gpu else 256)


def generate_ctgan_family(kind: str):
    def generate(data: BenchmarkDataset, num_rows: int, args, out_dir: Path) -> pd.DataFrame:
        from ctgan import CTGAN, TVAE

        model = (CTGAN if kind == "ctgan" else TVAE)(epochs=args.epochs, enable_gpu=args.device.startswith("cuda"))
        model.fit(data.train, list(data.categorical_columns))
        return model.sample(num_rows)

    return generate


def generate_great(data: BenchmarkDataset, num_rows: int, args, out_dir: Path) -> pd.DataFrame:
    """GReaT with the same SmolLM2 decoder (``--great-llm``: a plain model directory, see DESIGN.md §5)."""
    try:
        from be_great import GReaT
    except ImportError as error:
        raise RuntimeError("'great' needs be-great, which pins older transformers: run this script from its own "
                           "venv (see the module docstring).") from error
    model = GReaT(llm=args.great_llm, epochs=args.epochs, batch_size=args.batch_size,
                  experiment_dir=str(out_dir / "great"))
    model.fit(data.train)
    return model.sample(n_samples=num_rows, device=args.device)


def generate_prompt(data: BenchmarkDataset, num_rows: int, args, out_dir: Path) -> pd.DataFrame:
    """SmolLM2-Instruct alone, asked to continue a CSV of a few random real rows; each call yields one line."""
    from hf_latent_diffusion_lm.pretrained import load_decoder_and_tokenizer, smollm2_source

    model, tokenizer = load_decoder_and_tokenizer(smollm2_source(), dtype=torch.bfloat16 if args.device != "cpu" else torch.float32)
    model.to(args.device)
    tokenizer.padding_side = "left"
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    header = ",".join(data.train.columns)
    rows, attempts = [], 0
    while len(rows) < num_rows and attempts < 3 * num_rows:
        batch = min(args.batch_size, num_rows - len(rows))
        prompts = []
        for offset in range(batch):
            shots = data.train.sample(PROMPT_EXAMPLES, random_state=attempts + offset).to_csv(index=False, header=False)
            prompts.append(f"{header}\n{shots}")
        attempts += batch
        inputs = tokenizer(prompts, return_tensors="pt", padding=True).to(args.device)
        output = model.generate(**inputs, do_sample=True, max_new_tokens=args.max_new_tokens,
                                pad_token_id=tokenizer.pad_token_id)
        for text in tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True):
            line = text.strip().splitlines()[0] if text.strip() else ""
            try:
                parsed = pd.read_csv(io.StringIO(f"{header}\n{line}"), dtype=data.train.dtypes.to_dict())
            except (ValueError, pd.errors.ParserError):
                continue
            if len(parsed) == 1 and parsed.notna().all(axis=None):
                rows.append(parsed)
    print(f"prompt: {sum(map(len, rows))} parseable rows out of {attempts} generations", file=sys.stderr)
    return pd.concat(rows, ignore_index=True)


GENERATORS = {
    "ours": generate_ours,
    "ctgan": generate_ctgan_family("ctgan"),
    "tvae": generate_ctgan_family("tvae"),
    "great": generate_great,
    "prompt": generate_prompt,
    "real": lambda data, num_rows, args, out_dir: data.train.copy(),
}


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    cores = len(__import__("os").sched_getaffinity(0))
    return f"{cores}-core CPU, no GPU ({platform.processor() or platform.machine()}, torch {torch.__version__})"


def format_row(dataset: str, model: str, headline: dict, seconds: float, extra: str) -> str:
    def cell(key, digits=4):
        value = headline[key]
        return "n/a" if value is None else f"{value:.{digits}f}"

    cells = [cell("mle_synthetic"), cell("mle_real"), cell("shape_error", 2), cell("trend_error", 2),
             cell("alpha_precision", 3), cell("beta_recall", 3), cell("dcr_share", 3), cell("distance_attack_auc", 3),
             cell("c2st_score", 3), cell("c2st_xgboost_auc", 3), cell("validity_rate"), cell("exact_copy_rate"),
             cell("duplicate_rate")]
    return "| " + " | ".join([dataset, model, *cells, f"{seconds:.0f}", extra]) + " |"


TABLE_HEADER = (
    "| dataset | model | MLE synthetic (AUC↑ / RMSE↓) | MLE real | shape err % | trend err % | α-prec | β-rec | "
    "DCR share (→0.5) | MIA AUC (→0.5) | C2ST logistic | C2ST XGBoost AUC (→0.5) | validity | exact copies | "
    "duplicates | train+sample s | settings |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--datasets", default="adult", help=f"comma-separated, from {', '.join(LOADERS)}")
    parser.add_argument("--models", default="real", help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--out", default="runs/benchmark", help="per-run reports and samples")
    parser.add_argument("--benchmarks-md", default="BENCHMARKS.md", help="file the table rows are appended to")
    parser.add_argument("--section", default="Quality benchmark", help="heading of the appended section")
    parser.add_argument("--epochs", type=int, default=300, help="CTGAN/TVAE/GReaT epochs")
    parser.add_argument("--preset", default="small", help="our model's preset (fit_pipeline)")
    parser.add_argument("--great-llm", default=None, help="model directory GReaT fine-tunes (SmolLM2, plain format)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n-jobs", type=int, default=1, help="XGBoost threads in the evaluation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout", choices=["half", "test"], default="half",
                        help="privacy holdout: the other half of a 50/50 split of the training split (generators "
                             "train on one half), or the test split")
    args = parser.parse_args(argv)
    datasets = [name.strip() for name in args.datasets.split(",") if name.strip()]
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in models if name not in GENERATORS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    if "great" in models and args.great_llm is None:
        parser.error("--great-llm is required for great (a plain SmolLM2 model directory)")
    command = "python " + " ".join(shlex.quote(part) for part in sys.argv)
    table = []
    for dataset in datasets:
        data, holdout = load_benchmark_dataset(dataset, args.data_dir), None
        if args.holdout == "half":
            train, holdout = privacy_halves(data.train)
            data = dataclasses.replace(data, train=train)
        real_mle = None
        # Validity: every synthetic row against the schema (kinds, ranges, category sets) of the training split.
        schema = TableSchema.infer(data.train, target=data.target, categorical=list(data.categorical_columns))
        for model in models:
            out_dir = Path(args.out) / dataset / model
            out_dir.mkdir(parents=True, exist_ok=True)
            torch.manual_seed(args.seed)
            start = time.perf_counter()
            try:
                synthetic = GENERATORS[model](data, len(data.train), args, out_dir)
            except RuntimeError as error:
                print(f"{dataset}/{model}: skipped: {error}", file=sys.stderr)
                continue
            seconds = time.perf_counter() - start
            synthetic.to_csv(out_dir / "synthetic.csv", index=False)
            report = evaluate(data.train, synthetic, data.test, target=data.target, task=data.task, holdout=holdout,
                              validate=schema.validate, categorical_columns=data.categorical_columns,
                              real_mle=real_mle, seed=args.seed, n_jobs=args.n_jobs)
            real_mle = report.mle_real
            write_report(report, out_dir, data.train, synthetic, data.categorical_columns)
            extra = f"epochs {args.epochs}" if model in ("ctgan", "tvae", "great") else ""
            extra += f" trained on half ({len(data.train)} rows)" if args.holdout == "half" else ""
            if model == "prompt" or len(synthetic) != len(data.train):
                extra += f" {len(synthetic)} rows kept"
            table.append(format_row(dataset, model, report.headline(), seconds, extra.strip()))
            print(table[-1])
            print(json.dumps(report.headline()))
    if table:
        section = (f"\n## {args.section}\n\nCommand: `{command}`\nMachine: {machine()}. "
                   f"Date: {datetime.date.today().isoformat()}.\n\n{TABLE_HEADER}\n" + "\n".join(table) + "\n")
        with open(args.benchmarks_md, "a", encoding="utf-8") as handle:
            handle.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
