"""Command-line flags built from the training config dataclasses, so ``ldlm fit`` cannot drift from them.

Each field becomes ``--field-name`` (stage 2's fields ``--diffusion-field-name``, but for a few unprefixed ones) with the field's default, its
``help`` and ``choices`` metadata, and a type read off its annotation; ``list[str]`` fields take comma-separated
values. :func:`collect` reads the parsed namespace back into keyword arguments for the dataclass.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass


def _base_type(annotation):
    """``int | None`` -> ``int``; ``list[str] | None`` -> ``list``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return typing.get_origin(annotation) or annotation


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


@dataclass(frozen=True)
class FlagNames:
    """How one config's fields are spelled on ``ldlm fit``'s command line (and named in its error messages)."""

    prefix: str = ""
    unprefixed: tuple[str, ...] = ()  # fields that keep their plain name

    def dest(self, name: str) -> str:
        return self.prefix + name

    def flag(self, name: str) -> str:
        return "--" + (name if name in self.unprefixed else self.prefix + name).replace("_", "-")


VAE_FLAGS = FlagNames()
DIFFUSION_FLAGS = FlagNames("diffusion_", ("condition_columns", "privacy_reference", "privacy_quantile"))


def add_flags(parser: argparse.ArgumentParser, config_class, names: FlagNames, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per field of ``config_class`` (fields in ``skip`` excepted), spelled by ``names``."""
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        if field.name in skip:
            continue
        flag = names.flag(field.name)
        kind = _base_type(hints[field.name])
        options = {"dest": names.dest(field.name), "help": field.metadata.get("help"), "default": field.default}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
        elif kind is list:
            parser.add_argument(flag, type=_comma_list, metavar="A,B,...", **options)
        else:
            parser.add_argument(flag, type=kind, choices=field.metadata.get("choices"), **options)


def collect(args: argparse.Namespace, config_class, names: FlagNames, skip: tuple[str, ...] = ()) -> dict:
    """The values of ``config_class``'s flags in ``args``, keyed by field name."""
    return {field.name: getattr(args, names.dest(field.name)) for field in dataclasses.fields(config_class)
            if field.name not in skip}
