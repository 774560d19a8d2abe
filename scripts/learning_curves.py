#!/usr/bin/env python
"""Learning curves: stage-1 configurations run one after another under one wall-clock budget each, then a table and
a plot (PNG) of held-out field accuracy, the latent's gain over the most-common-value baseline, and the validation
NLL against minutes. Defaults get chosen from these curves, at an equal CPU budget, not from loss values.

    python scripts/learning_curves.py --data adult_train.csv --out curves/ --budget 10m \\
        --config "field-4L=--decoder_layers 4 --decoder_lora_rank 16" \\
        --config "field-8L=--decoder_layers 8 --decoder_lora_rank 16"
    python scripts/learning_curves.py --out curves/ --plot-only      # redraw from the runs' vae_log.csv

Each configuration is ``NAME=FLAGS`` (flags of ``scripts/train_vae.py``, added to ``--common``); runs are kept in
``OUT/NAME`` and a finished one is not run again.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

TRAIN_VAE = Path(__file__).with_name("train_vae.py")
PANELS = (("field_accuracy", "held-out field accuracy"), ("latent_gain", "gain over most-common values"),
          ("val_reconstruction_per_token", "validation NLL (nats/token)"))


def run(data: str, out: Path, name: str, flags: str, common: str, budget: str) -> None:
    folder = out / name
    if (folder / "vae" / "config.json").exists():
        print(f"{name}: done before, kept")
        return
    command = [sys.executable, str(TRAIN_VAE), "--data", data, "--output_dir", str(folder), "--time_budget", budget,
               *shlex.split(common), *shlex.split(flags)]
    print(f"{name}: {shlex.join(command)}", flush=True)
    with open(out / f"{name}.log", "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)


def curves(out: Path) -> dict[str, pd.DataFrame]:
    found = {}
    for log in sorted(out.glob("*/vae_log.csv")):
        frame = pd.read_csv(log)
        evaluated = frame.dropna(subset=["val_reconstruction_per_token"])
        if len(evaluated):
            found[log.parent.name] = evaluated.assign(minutes=evaluated["seconds"] / 60)
    return found


def write_outputs(out: Path, found: dict[str, pd.DataFrame]) -> None:
    rows = []
    for name, frame in found.items():
        for _, row in frame.iterrows():
            rows.append({"config": name, "step": int(row["step"]), "minutes": round(row["minutes"], 1),
                         **{key: round(row[key], 4) for key, _ in PANELS if key in row and pd.notna(row[key])}})
    table = pd.DataFrame(rows).fillna("")
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in table.itertuples(index=False)]
    (out / "curves.md").write_text("\n".join(lines) + "\n")
    figure = Figure(figsize=(5 * len(PANELS), 4))
    FigureCanvasAgg(figure)
    for index, (key, label) in enumerate(PANELS):
        axes = figure.add_subplot(1, len(PANELS), index + 1)
        for name, frame in found.items():
            if key in frame and frame[key].notna().any():
                axes.plot(frame["minutes"], frame[key], marker="o", label=name)
        axes.set_xlabel("wall-clock minutes of stage 1")
        axes.set_title(label)
        axes.grid(alpha=0.3)
    figure.axes[0].legend()
    figure.tight_layout()
    figure.savefig(out / "curves.png", dpi=100)
    print("\n".join(lines))
    print(f"Table: {out / 'curves.md'}; plot: {out / 'curves.png'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="the training table")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--budget", default="10m", help="each run's wall-clock budget (train_vae --time_budget)")
    parser.add_argument("--common", default="--eval_every 50 --field_accuracy_rows 128 --validation_rows 128",
                        help="flags every run gets")
    parser.add_argument("--config", action="append", default=[], help="NAME=FLAGS, repeatable")
    parser.add_argument("--plot-only", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.plot_only:
        if not args.data or not args.config:
            parser.error("--data and at least one --config are needed (or --plot-only)")
        for item in args.config:
            name, _, flags = item.partition("=")
            run(args.data, args.out, name.strip(), flags, args.common, args.budget)
    found = curves(args.out)
    if not found:
        parser.error(f"no evaluated runs under {args.out}")
    write_outputs(args.out, found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
