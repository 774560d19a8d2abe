"""``ldlm evaluate REAL SYNTH [--test TEST --target COL --out DIR]``: score a synthetic table (or nested JSON Lines
records, see :mod:`.record_evaluation`) from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data.json_lines import read_json_records
from ..data.json_record_schema import JsonRecordSchema
from ..data.record_schemas import holds_nested_records, schema_from_dict
from ..data.table_loading import read_table
from ..data.table_schema import TableSchema
from .evaluate import evaluate
from .ml_efficiency import TASKS
from .record_evaluation import HEADLINE_LABELS as RECORD_HEADLINE_LABELS
from .record_evaluation import evaluate_records, write_record_report
from .report_writing import HEADLINE_LABELS, write_report


# The flags only the table report reads, with their defaults: the nested-record report refuses them when set.
TABLE_REPORT_FLAGS = {"test": None, "target": None, "task": None, "holdout": None, "categorical": "", "seed": 0,
                      "n_jobs": 1}


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("real", help="the real training rows the generator learned from (CSV, Parquet or JSON Lines)")
    parser.add_argument("synthetic", help="the synthetic rows to score (same columns)")
    parser.add_argument("--test", help="real rows no generator saw: enables ML efficiency (with --target) and DCR")
    parser.add_argument("--target", help="the column ML efficiency predicts (needs --test)")
    parser.add_argument("--task", choices=TASKS, help="default: regression for a numerical target, else "
                        "classification (needs --target)")
    parser.add_argument("--holdout", help="real rows the generator never saw, ideally as many as REAL (the other half "
                        "of a 50/50 split): the Privacy section's DCR share and membership-inference AUC "
                        "(default: --test)")
    parser.add_argument("--schema", help="a TableSchema JSON file (TableSchema.save) for the validity rate; for "
                                         "nested JSON Lines a JSON Schema (default: inferred from the real records "
                                         "or table)")
    parser.add_argument("--categorical", default=TABLE_REPORT_FLAGS["categorical"],
                        help="comma-separated numerical columns to treat as categories")
    parser.add_argument("--out", default="evaluation", help="folder for report.json, report.md and the plots")
    parser.add_argument("--seed", type=int, default=TABLE_REPORT_FLAGS["seed"],
                        help="seed of the table report's splits and classifiers")
    parser.add_argument("--n-jobs", type=int, default=TABLE_REPORT_FLAGS["n_jobs"],
                        help="XGBoost threads (at most the idle cores)")
    return parser


def check_flags_apply(args: argparse.Namespace, nested: bool) -> None:
    """Refuse, in one line, a flag that would not change the report (none is silently ignored)."""
    if nested:
        given = [name for name, default in TABLE_REPORT_FLAGS.items() if getattr(args, name) != default]
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')} applies to flat tables (ML efficiency, privacy, the "
                             "XGBoost detector); the nested-record report takes --schema and --out only.")
    elif args.target is not None and args.test is None:
        raise ValueError("--target needs --test: ML efficiency trains on the synthetic rows and scores on --test.")
    elif args.task is not None and args.target is None:
        raise ValueError("--task needs --target (the column ML efficiency predicts).")


def _record_schema(path: str) -> JsonRecordSchema:
    """A saved record schema (``schema.save``) or a plain JSON Schema file."""
    stored = json.loads(Path(path).read_text(encoding="utf-8"))
    schema = schema_from_dict(stored) if "kind" in stored else JsonRecordSchema(stored)
    if schema.has_columns:
        raise ValueError(f"{path!r} holds a table schema; nested records need a JSON Schema.")
    return schema


def run_record_evaluation(args: argparse.Namespace) -> int:
    """``ldlm evaluate`` on nested JSON Lines: validity, copies, diversity, per-path marginals, α/β, a figure."""
    try:
        real, synthetic = read_json_records(args.real), read_json_records(args.synthetic)
        schema = None if args.schema is None else _record_schema(args.schema)
        report = evaluate_records(real, synthetic, schema)
    except (FileNotFoundError, ValueError) as error:
        print(f"ldlm evaluate: error: {error}", file=sys.stderr)
        return 2
    out_dir = write_record_report(report, args.out)
    for key, value in report.headline().items():
        print(f"{RECORD_HEADLINE_LABELS[key]}: {'n/a' if value is None else f'{value:.4f}'}")
    print(f"Report written to {out_dir}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate, write the report folder, print the headline numbers (bad input raises ``ValueError`` naming it)."""
    nested = holds_nested_records(args.real)
    check_flags_apply(args, nested)
    if nested:
        return run_record_evaluation(args)
    real = read_table(args.real)
    synthetic = read_table(args.synthetic)
    test = None if args.test is None else read_table(args.test)
    holdout = None if args.holdout is None else read_table(args.holdout)
    # Without --schema, validity is judged against the schema the real table implies (its columns' kinds, category
    # sets and ranges): the contract a generator fitted to it should keep.
    validate = (TableSchema.infer(real) if args.schema is None else TableSchema.load(args.schema)).validate
    categorical = [name.strip() for name in args.categorical.split(",") if name.strip()]
    report = evaluate(real, synthetic, test, target=args.target, task=args.task, holdout=holdout, validate=validate,
                      categorical_columns=categorical, seed=args.seed, n_jobs=args.n_jobs)
    out_dir = write_report(report, args.out, real, synthetic, categorical)
    for key, value in report.headline().items():
        print(f"{HEADLINE_LABELS[key]}: {'n/a' if value is None else f'{value:.4f}'}")
    print(f"Report written to {out_dir}")
    return 0
