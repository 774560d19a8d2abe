"""Training options checked when they are set (the configs' ``__post_init__``), so a bad value fails in a second,
naming its command-line flag, instead of after the first training stage."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..data.table_loading import read_options_from_json
from .config_flags import DIFFUSION_FLAGS, VAE_FLAGS, FlagNames
from .time_budget import parse_duration

MIXED_PRECISION = ("auto", "no", "fp16", "bf16")  # accelerate's choices, and "auto" (see .time_budget)

MIN_ROWS = 2  # the latent statistics (a standard deviation) and a validation split need two rows


def _flag(name: str, flags: FlagNames) -> str:
    return f"{name} ({flags.flag(name)})"


def _check_positive_integers(config, names, flags) -> None:
    for name in names:
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{_flag(name, flags)} must be a positive integer, got {value!r}.")


def _check_positive_numbers(config, names, flags) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
            raise ValueError(f"{_flag(name, flags)} must be a positive finite number, got {value!r}.")


def _check_choices(config, flags) -> None:
    """Each field whose metadata lists ``choices`` (the list ``ldlm fit`` offers for it) holds one of them."""
    for field in dataclasses.fields(config):
        choices = field.metadata.get("choices")
        if choices is not None and getattr(config, field.name) not in choices:
            raise ValueError(f"{_flag(field.name, flags)} must be one of {list(choices)}, got "
                             f"{getattr(config, field.name)!r}.")


def check_vae_options(config) -> None:
    """Validate a filled ``VAETrainingConfig`` (its ``__post_init__`` fills it from the preset first)."""
    _check_positive_integers(config, ("max_steps", "batch_size", "gradient_accumulation_steps", "eval_every",
                                      "checkpoint_every", "checkpoints_total_limit", "max_length", "max_rows", "latent_dim",
                                      "num_soft_tokens", "patience", "decoder_layers", "field_warmup_batch_size",
                                      "min_category_count"),
                              VAE_FLAGS)
    if isinstance(config.field_warmup_steps, bool) or not isinstance(config.field_warmup_steps, int) \
            or config.field_warmup_steps < 0:
        raise ValueError(f"{_flag('field_warmup_steps', VAE_FLAGS)} must be a non-negative integer, got "
                         f"{config.field_warmup_steps!r}.")
    parse_duration(config.time_budget)
    if config.decoder_gguf_file and not config.decoder:
        raise ValueError(f"{_flag('decoder_gguf_file', VAE_FLAGS)} names a file inside --decoder; give --decoder too.")
    _check_positive_numbers(config, ("learning_rate", "max_beta", "min_beta", "beta_factor", "max_grad_norm",
                                     "field_warmup_learning_rate"), VAE_FLAGS)
    _check_choices(config, VAE_FLAGS)
    quantile = config.range_quantile
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0 <= quantile < 50:
        raise ValueError(f"{_flag('range_quantile', VAE_FLAGS)} is a percentile from 0 (exact range) up to, not "
                         f"including, 50 (the median), got {quantile!r}.")
    if not 0 <= config.validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {config.validation_fraction!r}.")
    if config.min_beta > config.max_beta:
        raise ValueError(f"min_beta ({config.min_beta}) is larger than max_beta ({config.max_beta}).")
    read_options_from_json(config.read_options)


def check_diffusion_options(config) -> None:
    """Validate a ``DiffusionTrainingConfig`` (``max_steps`` and ``hidden_dim`` ``None`` are filled by stage 2 from
    the stage-1 run's resolved preset)."""
    _check_positive_integers(config, ("max_steps", "batch_size", "eval_every", "hidden_dim", "num_layers",
                                      "condition_bins"), DIFFUSION_FLAGS)
    _check_positive_numbers(config, ("learning_rate",), DIFFUSION_FLAGS)
    _check_choices(config, DIFFUSION_FLAGS)
    if not 0 <= config.ema_decay < 1:
        raise ValueError(f"{_flag('ema_decay', DIFFUSION_FLAGS)} must be in [0, 1), got {config.ema_decay!r}.")
    if not 0 < config.privacy_quantile < 100:
        raise ValueError(f"{_flag('privacy_quantile', DIFFUSION_FLAGS)} is a percentile between 0 and 100, got "
                         f"{config.privacy_quantile!r}.")


@dataclass(frozen=True)
class FitShape:
    """What decides whether an option can take effect: the record kind, the injection method (``auto`` resolved),
    whether the prior is conditioned and whether the pipeline keeps the dcr guard's reference rows."""

    tables: bool
    method: str
    conditioned: bool = False
    dcr_guard: bool = False

    def describe(self) -> str:
        return f"{'a flat table' if self.tables else 'nested JSON records'} with {self.method} injection"


# Options that take effect in some fits only: where each applies, and how the refusal says so. An option set (to
# other than its default) where it cannot take effect is refused before any work, so none is silently ignored.
_TABLES = (lambda shape: shape.tables, "flat tables")
_FIELD = (lambda shape: shape.method == "field", "field injection (the default for flat tables)")
WHERE_OPTIONS_APPLY = {
    "encoder": (lambda shape: shape.method != "field",
                "soft_prompt, memory and embedding injection (field injection trains its own encoder of field codes)"),
    "num_soft_tokens": (lambda shape: shape.method in ("soft_prompt", "memory"),
                        "soft_prompt and memory injection (the positions put before the record)"),
    "field_warmup_steps": _FIELD,
    "field_warmup_batch_size": _FIELD,
    "field_warmup_learning_rate": _FIELD,
    "record_format": (_TABLES[0], "flat tables (nested records are written as JSON)"),
    "min_category_count": _TABLES,
    "range_quantile": _TABLES,
    "read_options": (_TABLES[0], "tables read by pandas (JSON Lines records are read as JSON)"),
    "target": (_TABLES[0], "flat tables (the column ML efficiency predicts)"),
    "condition_columns": (_TABLES[0], "flat tables (nested JSON records cannot condition the prior yet)"),
    "privacy_reference": (_TABLES[0], "flat tables (the dcr guard measures distances between table rows; nested "
                                      "records get the reject_copies guard)"),
    "condition_bins": (lambda shape: shape.conditioned, "a conditioned prior (with --condition-columns)"),
    "privacy_quantile": (lambda shape: shape.dcr_guard, "the dcr guard (with --privacy-reference)"),
}


def options_set(config, skip: tuple[str, ...] = ()) -> dict:
    """``config``'s options that differ from their defaults, those in ``skip`` (filled by the program) left out."""
    return {field.name: getattr(config, field.name) for field in dataclasses.fields(config)
            if field.name not in skip and getattr(config, field.name) != field.default}


def check_options_apply(options: dict, flags: FlagNames, shape: FitShape) -> None:
    """Refuse, in one line that names the flag, an option in ``options`` (name: value) where it cannot take
    effect."""
    for name in options:
        applies, where = WHERE_OPTIONS_APPLY.get(name, (None, None))
        if applies is not None and not applies(shape):
            raise ValueError(f"{flags.flag(name)} applies to {where}; this fit has {shape.describe()}. Drop the flag.")


def check_training_table(frame, tables: bool, condition_columns, target: str | None = None) -> None:
    """Before stage 1: the table has rows enough to learn a distribution from; the condition and target columns
    exist (nested records: see :data:`WHERE_OPTIONS_APPLY`)."""
    if len(frame) < MIN_ROWS:
        raise ValueError(f"The training table has {len(frame)} row(s); a generator needs at least {MIN_ROWS} rows to "
                         "learn a distribution from.")
    if not tables:  # nested JSON records: the options that need columns are refused for them (check_options_apply)
        return
    unknown = [name for name in condition_columns or [] if name not in frame.columns]
    if unknown:
        raise ValueError(f"Unknown --condition-columns {unknown}; the training columns are {list(frame.columns)}.")
    if target is not None and target not in frame.columns:
        raise ValueError(f"Unknown --target {target!r}; the training columns are {list(frame.columns)}.")
