"""``ldlm``: fit a latent-diffusion LM on a table, sample or complete rows, evaluate, or run the demo."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from .errors import UserInputError, exit_status
from .native_bf16 import DECODING_DTYPES

EPILOG = """examples:
  ldlm demo                                          # fit on a bundled Adult sample, sample, report (CPU, minutes)
  ldlm fit data.csv --out my-model                   # MiniLM encoder + SmolLM2-135M decoder, offline
  ldlm fit data.csv --out my-model --condition-columns income,sex --max-steps 3000
  ldlm sample my-model -n 1000 --out synthetic.csv --seed 0 --privacy reject_copies
  ldlm sample my-model -n 500 --out rich.csv --condition "income=>50K" --guidance-scale 2
  ldlm complete my-model partial.csv --out filled.csv   # fill the empty cells of each row
  ldlm evaluate real.csv synthetic.csv --test test.csv --target income --out report/
  ldlm fit tool_calls.jsonl --out toolcall-model     # nested JSON records (e.g. BFCL tool calls)
  ldlm sample toolcall-model -n 100 --out calls.jsonl
  ldlm evaluate tool_calls.jsonl calls.jsonl --out report/
"""


def positive_int(text: str) -> int:
    """argparse type: 1, 2, ... (a count of rows or steps); 0 and negatives are refused before any work."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


# Fields ``ldlm fit`` sets itself (from its positional argument, --out, --resume) or shares between the stages.
VAE_FIELDS_SET_BY_FIT = ("data", "output_dir", "resume_from_checkpoint")
DEFAULT_SHARD_ROWS = 1000
DTYPE_HELP = ("the decoder's dtype while sampling; auto: bfloat16 where the CPU (avx512_bf16 or AMX) or GPU runs it "
              "natively, else float32 (default: auto)")
DIFFUSION_FIELDS_SET_BY_FIT = ("vae_dir", "output_dir", "seed", "mixed_precision", "resume_from_checkpoint")


def _fit(args) -> int:
    from .training import DiffusionTrainingConfig, VAETrainingConfig, fit_pipeline
    from .training.config_flags import DIFFUSION_FLAGS, VAE_FLAGS, collect

    vae_options = collect(args, VAETrainingConfig, VAE_FLAGS, skip=VAE_FIELDS_SET_BY_FIT)
    from .training.field_accuracy import reconstruction_summary

    diffusion_options = collect(args, DiffusionTrainingConfig, DIFFUSION_FLAGS, skip=DIFFUSION_FIELDS_SET_BY_FIT)

    fit_pipeline(args.data, args.out, condition_columns=diffusion_options.pop("condition_columns"),
                 diffusion_steps=diffusion_options.pop("max_steps"), diffusion_options=diffusion_options,
                 keep_checkpoints=args.keep_checkpoints, overwrite=args.overwrite,
                 resume_from_checkpoint="latest" if args.resume else None, **vae_options)
    print(reconstruction_summary(args.out))
    print(f"Saved the trained pipeline to {args.out}")
    return 0


def _add_fit_arguments(fit: argparse.ArgumentParser) -> None:
    """``ldlm fit``'s flags: the training configs' fields, plus what only the one-call fit has."""
    from .training import DiffusionTrainingConfig, VAETrainingConfig
    from .training.config_flags import DIFFUSION_FLAGS, VAE_FLAGS, add_flags

    fit.add_argument("data", help="the real table")
    fit.add_argument("--out", required=True, help="directory for the trained pipeline (training state: OUT/training)")
    fit.add_argument("--resume", action="store_true", help="continue an interrupted fit from its latest checkpoint")
    fit.add_argument("--overwrite", action="store_true",
                     help="write into a non-empty --out that is not a pipeline (its other files are kept)")
    fit.add_argument("--keep-checkpoints", action="store_true",
                     help="keep optimizer states and intermediate models in OUT/training once the fit has finished")
    add_flags(fit.add_argument_group("stage 1: the VAE"), VAETrainingConfig, VAE_FLAGS, skip=VAE_FIELDS_SET_BY_FIT)
    add_flags(fit.add_argument_group("stage 2: the latent prior"), DiffusionTrainingConfig, DIFFUSION_FLAGS,
              skip=DIFFUSION_FIELDS_SET_BY_FIT)


def _load_for_decoding(args):
    """The pipeline ``args.model``, its decoder in the dtype ``--dtype`` picks (reported before any sampling)."""
    from .native_bf16 import decoding_dtype

    pipe = _load(args.model)
    pipe.set_progress_bar_config(disable=True)
    dtype, reason = decoding_dtype(args.dtype, pipe.device)
    pipe.decoder.to(dtype)
    print(f"Decoding in {str(dtype).removeprefix('torch.')}: {reason}.")
    return pipe


def _load(directory):
    """A saved pipeline; a missing or damaged directory is the user's to fix, not a Hub or library failure."""
    import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline class with diffusers)
    from diffusers import DiffusionPipeline

    path = Path(directory)
    if not path.is_dir():
        raise FileNotFoundError(f"No pipeline directory at {directory!r} (train one with: ldlm fit DATA --out DIR).")
    if not (path / "model_index.json").is_file():
        raise UserInputError(f"{directory!r} is not a pipeline directory: it has no model_index.json.")
    try:
        return DiffusionPipeline.from_pretrained(directory)
    except Exception as error:  # a truncated or edited file fails in safetensors, json or a config class
        raise UserInputError(f"Cannot load the pipeline in {directory!r}: {type(error).__name__}: {error}") from error


def _shortfall(args, written: int, unit: str = "rows", where: str = "", then: str = "") -> int:
    """Exit status 1 with one error line when fewer rows than asked were written: how many are missing and why."""
    asked = args.num_samples
    if written >= asked:
        return 0
    print(f"{args.prog} sample: error: only {written} of the {asked} {unit} asked for were written{where}; "
          f"{asked - written} are missing (they did not parse{' or the privacy guard dropped them' if args.privacy else ''}"
          f"); the model may need more training{then}.", file=sys.stderr)
    return 1


def _sample_json_records(pipe, args) -> int:
    """``ldlm sample`` for nested records: every option checked before sampling, the records to one JSON Lines
    file."""
    from .data.json_lines import write_json_lines
    from .sampling.record_sampling import check_records_file, sample_records

    if args.condition or args.guidance_scale != 1.0:
        raise ValueError(f"{'--condition' if args.condition else '--guidance-scale'} needs a table model with "
                         "condition columns; this model writes nested JSON records.")
    if args.privacy == "dcr":
        raise ValueError("--privacy dcr measures distances between table rows; this model writes nested JSON "
                         "records: use --privacy reject_copies.")
    check_records_file(args.out)
    if args.shard_size is not None:
        raise ValueError("--shard-size writes Parquet shards of table rows; nested JSON records go to one .jsonl "
                         "file.")
    sample = sample_records(pipe, args.num_samples, seed=args.seed, decoding={"constrained": not args.unconstrained},
                            tool_call_consistency=False if args.no_tool_call_consistency else None,
                            privacy=args.privacy)
    if sample.records:
        write_json_lines(sample.records, args.out)
        semantic = "" if sample.semantic_validity is None else (
            f", semantic validity {sample.first_draw_semantic_validity:.1%} first draw, "
            f"{sample.semantic_validity:.1%} after {sample.redraws} re-draws")
        print(f"Wrote {len(sample.records)} records to {args.out} (schema validity {sample.schema_validity:.1%}"
              f"{semantic})")
    if args.privacy:
        print(f"Privacy guard {args.privacy}: re-drew {sample.privacy_redraws} records equal to a training record")
    return _shortfall(args, len(sample.records), unit="records")


def _sample(args) -> int:
    from .sampling.table_sampling import check_output_file, generate_records, parse_conditions, write_table

    pipe = _load_for_decoding(args)
    if not pipe.schema.has_columns:
        return _sample_json_records(pipe, args)
    if args.no_tool_call_consistency:
        raise ValueError("--no-tool-call-consistency is for tool-use records (functions and calls); this model writes "
                         "table rows.")
    to_folder = args.out.endswith(("/", os.sep)) or os.path.isdir(args.out) or not os.path.splitext(args.out)[1]
    if not to_folder:
        check_output_file(args.out)
        if args.shard_size is not None:
            raise ValueError(f"--shard-size splits a folder --out into Parquet shards; {args.out!r} is one file (end "
                             "--out with / for shards).")
    conditions = parse_conditions(args.condition, pipe.schema)
    options = {"conditions": conditions or None, "guidance_scale": args.guidance_scale,
               "decoding": {"constrained": not args.unconstrained}, "privacy": args.privacy}
    if to_folder:
        from .sampling.sharded_sampling import sampling_state, write_shards

        summary = write_shards(pipe, args.num_samples, args.out, seed=args.seed,
                               shard_size=args.shard_size or DEFAULT_SHARD_ROWS,
                               **options)
        if not sampling_state().is_main_process:
            return int(summary["missing"] > 0)
        if summary["missing"]:
            return _shortfall(args, args.num_samples - summary["missing"],
                              where=f" to {args.out}", then="; rerunning the command samples the short shards again")
        state = sampling_state()
        sampled_by = "this run" if state.num_processes == 1 else f"process 0 of {state.num_processes}"
        print(f"Parquet shards of {args.num_samples} rows are in {args.out} ({sampled_by} sampled {summary['rows']})")
        return 0
    frame = generate_records(pipe, args.num_samples, seed=args.seed, **options)
    if len(frame):
        write_table(frame, args.out)
        print(f"Wrote {len(frame)} rows to {args.out} (validity {frame.attrs['validity']:.1%})")
    if args.privacy:
        print(f"Privacy guard {args.privacy}: re-drew {frame.attrs['privacy_redraws']} rows, dropped "
              f"{frame.attrs['privacy_dropped']} still rejected after the last round")
    return _shortfall(args, len(frame))


def _complete(args) -> int:
    import torch

    from .data.table_loading import read_options_from_json, read_table
    from .sampling.table_sampling import check_output_file, write_table

    check_output_file(args.out)
    partial = read_table(args.data, allow_empty_columns=True, **read_options_from_json(args.read_options))
    pipe = _load_for_decoding(args)
    filled = pipe.complete(partial, guidance_scale=args.guidance_scale,
                           generator=torch.Generator().manual_seed(args.seed))
    write_table(filled, args.out)
    print(f"Completed {len(filled)} rows into {args.out}")
    return 0


def _demo(args) -> int:
    from .demo import run_demo

    run_demo(args.out, preset=args.preset, max_steps=args.max_steps, num_samples=args.num_samples,
             diffusion_steps=args.diffusion_max_steps)
    return 0


def _evaluate(args) -> int:
    from .evaluation.command import run_evaluate

    return run_evaluate(args)


def build_parser(prog: str = "ldlm") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Synthetic table rows from a latent-diffusion language model (DiffLM): a trained encoder maps "
                    "rows to latents, a small diffusion model learns them, a frozen LLM writes new rows, and a "
                    "schema constraint keeps every row valid.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of any error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser("fit", help="train a pipeline on a table (CSV, Parquet, JSON Lines)",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_fit_arguments(fit)
    fit.set_defaults(handler=_fit)

    sample = commands.add_parser("sample", help="write N synthetic rows from a trained pipeline",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sample.add_argument("model", help="a trained pipeline directory")
    sample.add_argument("-n", "--num-samples", type=positive_int, required=True)
    sample.add_argument("--out", required=True, help="output file (.csv, .jsonl or .parquet; nested JSON records: "
                        ".jsonl or .ndjson), or, for a table model, a folder (ending in /) for Parquet shards written "
                        "as they are sampled; rerunning resumes")
    sample.add_argument("--shard-size", type=positive_int, default=None,
                        help=f"rows per Parquet shard, with a folder --out (default {DEFAULT_SHARD_ROWS})")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--condition", action="append", metavar="COL=VALUE",
                        help="a value every row must have (repeatable)")
    sample.add_argument("--guidance-scale", type=finite_float, default=1.0, help="classifier-free guidance weight")
    sample.add_argument("--unconstrained", action="store_true", help="no schema constraint (for comparison)")
    sample.add_argument("--dtype", choices=DECODING_DTYPES, default="auto", help=DTYPE_HELP)
    sample.add_argument("--privacy", choices=["reject_copies", "dcr"],
                        help="re-draw rows equal to a training row (reject_copies) or also closer to one than the "
                             "threshold calibrated at fit time (dcr; needs ldlm fit --privacy-reference)")
    sample.add_argument("--no-tool-call-consistency", action="store_true",
                        help="decode tool calls under the record grammar alone and keep records whose calls break their "
                             "functions (default: calls follow a grammar of their record's functions; re-draw the rest)")
    sample.set_defaults(handler=_sample)

    complete = commands.add_parser("complete", help="fill the missing cells of a table's rows")
    complete.add_argument("model", help="a trained pipeline directory")
    complete.add_argument("data", help="rows with empty cells")
    complete.add_argument("--out", required=True)
    complete.add_argument("--guidance-scale", type=finite_float, default=1.0)
    complete.add_argument("--read-options", help="pandas read options as JSON")
    complete.add_argument("--seed", type=int, default=0)
    complete.add_argument("--dtype", choices=DECODING_DTYPES, default="auto", help=DTYPE_HELP)
    complete.set_defaults(handler=_complete)

    demo = commands.add_parser("demo", help="fit on a bundled Adult sample, sample rows, report (offline, CPU)",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    demo.add_argument("--out", default="ldlm-demo", help="where the model, CSV, report and PNG go")
    demo.add_argument("--preset", default="small", choices=["tiny", "small"])
    demo.add_argument("--max-steps", type=positive_int, default=400, help="VAE optimizer steps (the 4-minute budget "
                      "usually ends stage 1 first)")
    demo.add_argument("--diffusion-max-steps", type=positive_int, default=1500, help="denoiser optimizer steps")
    demo.add_argument("--num-samples", type=positive_int, default=500,
                      help="rows sampled (as many as the training rows: fewer make shape and trend noisy)")
    demo.set_defaults(handler=_demo)

    evaluate = commands.add_parser("evaluate", help="score synthetic rows against real ones")
    try:
        from .evaluation.command import add_evaluate_arguments

        add_evaluate_arguments(evaluate)
    except ImportError as error:  # the [eval] extra is not installed
        evaluate.add_argument("args", nargs="*", help=f"unavailable: {error}")
    evaluate.set_defaults(handler=_evaluate)
    return parser


def main(argv=None, prog: str = "ldlm") -> int:
    """Run a command. A user's error (bad file, column or option) prints one line and exits 2; a bug keeps its
    traceback; ``--debug`` shows the traceback of both. ``prog`` names the program in messages (a script reusing a
    command, such as ``scripts/generate.py``, gives its own name)."""
    args = build_parser(prog).parse_args(argv)
    args.prog = prog
    return exit_status(f"{prog} {args.command}", lambda: args.handler(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())
