"""Round trip every row of a real table through the record format: ``parse(to_text(row)) == row`` and valid.

    python scripts/check_roundtrip.py ../shared/data/adult/adult.data --format adult
    python scripts/check_roundtrip.py ../shared/data/shoppers/online_shoppers_intention.csv
"""

from __future__ import annotations

import argparse

from hf_latent_diffusion_lm.data import TableSchema

# UCI Adult's files have no header; these are the names of adult.names, in order.
ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation", "relationship",
    "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--format", help="csv, tsv, parquet, jsonl, or 'adult' (header-less UCI Adult CSV)")
    parser.add_argument("--column-names", help="comma-separated names for a header-less CSV")
    parser.add_argument("--show", type=int, default=3, help="failures to print")
    args = parser.parse_args()
    options = {}
    if args.format == "adult":
        options = {"format": "csv", "column_names": ADULT_COLUMNS, "skipinitialspace": True}
    elif args.format:
        options["format"] = args.format
    if args.column_names:
        options["column_names"] = args.column_names.split(",")
    schema = TableSchema.infer(args.path, **options)
    rows = schema.records(args.path, **options)
    failures = 0
    for index, row in enumerate(rows):
        text = schema.to_text(row)
        parsed = schema.parse(text)
        problems = schema.validate(parsed)
        if parsed != row or problems:
            failures += 1
            if failures <= args.show:
                print(f"row {index}: {text!r} -> {parsed!r} {problems}")
    print(f"{args.path}: {len(rows)} rows checked, {failures} failures")


if __name__ == "__main__":
    main()
