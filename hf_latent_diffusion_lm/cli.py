"""``ldlm``: fit a latent-diffusion LM on a table, sample or complete rows, evaluate, or run the demo."""

from __future__ import annotations

import argparse
import json
import sys

EPILOG = """examples:
  ldlm demo                                          # fit on a bundled Adult sample, sample, report (CPU, minutes)
  ldlm fit data.csv --out my-model                   # MiniLM encoder + SmolLM2-135M decoder, offline
  ldlm fit data.csv --out my-model --condition-columns income,sex --max-steps 3000
  ldlm sample my-model -n 1000 --out synthetic.csv --seed 0
  ldlm sample my-model -n 500 --out rich.csv --condition "income=>50K" --guidance-scale 2
  ldlm complete my-model partial.csv --out filled.csv   # fill the empty cells of each row
  ldlm evaluate real.csv synthetic.csv --test test.csv --target income --out report/
  ldlm fit tool_calls.jsonl --out toolcall-model     # nested JSON records (e.g. BFCL tool calls)
  ldlm sample toolcall-model -n 100 --out calls.jsonl
  ldlm evaluate tool_calls.jsonl calls.jsonl --out report/
"""


def _fit(args) -> int:
    from .training import fit_pipeline

    options = {"columns": args.columns.split(",") if args.columns else None, "target": args.target,
               "max_steps": args.max_steps, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
               "injection_method": args.injection_method, "encoder": args.encoder, "decoder": args.decoder,
               "decoder_gguf_file": args.decoder_gguf_file, "read_options": args.read_options, "seed": args.seed,
               "max_rows": args.max_rows, "mixed_precision": args.mixed_precision, "schema": args.schema,
               "max_length": args.max_length,
               "resume_from_checkpoint": "latest" if args.resume else None}
    fit_pipeline(args.data, args.out, preset=args.preset, diffusion_steps=args.diffusion_steps,
                 condition_columns=args.condition_columns.split(",") if args.condition_columns else None, **options)
    print(f"Saved the trained pipeline to {args.out}")
    return 0


def _load(directory):
    import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline class with diffusers)
    from diffusers import DiffusionPipeline

    return DiffusionPipeline.from_pretrained(directory)


def _sample_json_records(pipe, args) -> int:
    from .data.json_lines import write_json_lines
    from .record_sampling import sample_records

    if args.condition:
        raise ValueError("--condition needs a table model; this model writes nested JSON records.")
    sample = sample_records(pipe, args.num_samples, seed=args.seed, constrained=not args.unconstrained,
                            tool_call_consistency=False if args.no_tool_call_consistency else None)
    write_json_lines(sample.records, args.out)
    semantic = "" if sample.semantic_validity is None else (
        f", semantic validity {sample.first_draw_semantic_validity:.1%} first draw, "
        f"{sample.semantic_validity:.1%} after {sample.redraws} re-draws")
    print(f"Wrote {len(sample.records)} records to {args.out} (schema validity {sample.schema_validity:.1%}{semantic})")
    return 0


def _sample(args) -> int:
    from .data.json_record_schema import JsonRecordSchema
    from .generation import generate_records, parse_conditions, write_table

    pipe = _load(args.model)
    pipe.set_progress_bar_config(disable=True)
    if isinstance(pipe.schema, JsonRecordSchema):
        return _sample_json_records(pipe, args)
    conditions = parse_conditions(args.condition, pipe.schema)
    frame = generate_records(pipe, args.num_samples, seed=args.seed, conditions=conditions or None,
                             guidance_scale=args.guidance_scale, constrained=not args.unconstrained)
    write_table(frame, args.out)
    print(f"Wrote {len(frame)} rows to {args.out} (validity {frame.attrs['validity']:.1%})")
    return 0


def _complete(args) -> int:
    import torch

    from .data import read_table
    from .generation import write_table

    pipe = _load(args.model)
    pipe.set_progress_bar_config(disable=True)
    partial = read_table(args.data, **json.loads(args.read_options or "{}"))
    filled = pipe.complete(partial, guidance_scale=args.guidance_scale,
                           generator=torch.Generator().manual_seed(args.seed))
    write_table(filled, args.out)
    print(f"Completed {len(filled)} rows into {args.out}")
    return 0


def _demo(args) -> int:
    from .demo import run_demo

    run_demo(args.out, preset=args.preset, max_steps=args.max_steps, num_samples=args.num_samples,
             diffusion_steps=args.diffusion_steps)
    return 0


def _evaluate(args) -> int:
    from .evaluation.command import run_evaluate

    return run_evaluate(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ldlm", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Synthetic table rows from a latent-diffusion language model (DiffLM): a trained encoder maps "
                    "rows to latents, a small diffusion model learns them, a frozen LLM writes new rows, and a "
                    "schema constraint keeps every row valid.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser("fit", help="train a pipeline on a table (CSV, Parquet, JSON Lines)",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    fit.add_argument("data", help="the real table")
    fit.add_argument("--out", required=True, help="directory for the trained pipeline")
    fit.add_argument("--preset", default="small", choices=["tiny", "small", "base"],
                     help="tiny: random test models; small: MiniLM + SmolLM2-135M from PyPI packages (offline); "
                          "base: Hub ids (online)")
    fit.add_argument("--encoder", help="encoder path or Hub id ('scratch': a small encoder over decoder tokens)")
    fit.add_argument("--decoder", help="frozen causal LM path or Hub id")
    fit.add_argument("--decoder-gguf-file", help="GGUF file inside --decoder")
    fit.add_argument("--injection-method", default="soft_prompt", choices=["soft_prompt", "memory", "embedding"])
    fit.add_argument("--columns", help="comma-separated columns to keep (default: all)")
    fit.add_argument("--target", help="the target column (stored in the schema)")
    fit.add_argument("--condition-columns", help="comma-separated columns to condition the latent prior on")
    fit.add_argument("--max-steps", type=int, default=2000, help="VAE optimizer steps")
    fit.add_argument("--diffusion-steps", type=int, default=3000, help="denoiser optimizer steps")
    fit.add_argument("--batch-size", type=int, default=16)
    fit.add_argument("--learning-rate", type=float, default=1e-3)
    fit.add_argument("--max-rows", type=int, help="use only the first N rows")
    fit.add_argument("--max-length", type=int, default=512, help="longest record in decoder tokens (with bos/eos)")
    fit.add_argument("--read-options", help='pandas read options as JSON, e.g. \'{"skipinitialspace": true}\'')
    fit.add_argument("--schema", help="a JSON Schema file the (nested JSON Lines) records follow (default: inferred)")
    fit.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    fit.add_argument("--resume", action="store_true", help="continue from the latest VAE checkpoint")
    fit.add_argument("--seed", type=int, default=0)
    fit.set_defaults(handler=_fit)

    sample = commands.add_parser("sample", help="write N synthetic rows from a trained pipeline",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sample.add_argument("model", help="a trained pipeline directory")
    sample.add_argument("-n", "--num-samples", type=int, required=True)
    sample.add_argument("--out", required=True, help="output file: .csv, .jsonl or .parquet (nested records: .jsonl)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--condition", action="append", metavar="COL=VALUE",
                        help="a value every row must have (repeatable)")
    sample.add_argument("--guidance-scale", type=float, default=1.0, help="classifier-free guidance weight")
    sample.add_argument("--unconstrained", action="store_true", help="no schema constraint (for comparison)")
    sample.add_argument("--no-tool-call-consistency", action="store_true",
                        help="keep tool-call records whose calls break their functions (default: re-draw them)")
    sample.set_defaults(handler=_sample)

    complete = commands.add_parser("complete", help="fill the missing cells of a table's rows")
    complete.add_argument("model", help="a trained pipeline directory")
    complete.add_argument("data", help="rows with empty cells")
    complete.add_argument("--out", required=True)
    complete.add_argument("--guidance-scale", type=float, default=1.0)
    complete.add_argument("--read-options", help="pandas read options as JSON")
    complete.add_argument("--seed", type=int, default=0)
    complete.set_defaults(handler=_complete)

    demo = commands.add_parser("demo", help="fit on a bundled Adult sample, sample rows, report (offline, CPU)",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    demo.add_argument("--out", default="ldlm-demo", help="where the model, CSV, report and PNG go")
    demo.add_argument("--preset", default="small", choices=["tiny", "small"])
    demo.add_argument("--max-steps", type=int, default=40, help="VAE optimizer steps")
    demo.add_argument("--diffusion-steps", type=int, default=1500, help="denoiser optimizer steps")
    demo.add_argument("--num-samples", type=int, default=100)
    demo.set_defaults(handler=_demo)

    evaluate = commands.add_parser("evaluate", help="score synthetic rows against real ones")
    try:
        from .evaluation.command import add_evaluate_arguments

        add_evaluate_arguments(evaluate)
    except ImportError as error:  # the [eval] extra is not installed
        evaluate.add_argument("args", nargs="*", help=f"unavailable: {error}")
    evaluate.set_defaults(handler=_evaluate)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (FileNotFoundError, KeyError, ValueError, OSError) as error:
        print(f"ldlm {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
