"""The grouped arguments of ``pipe(...)``: which values records must have, how the LM decodes, the privacy guard.

The pipeline's ``__call__`` keeps diffusers' shape (``num_samples``, ``guidance_scale``, ``num_inference_steps``,
``generator``, ``latents``, ``output_type``, ``return_dict``); what it grew beyond that lives here, one object per
concern. Each accepts the plain form users write most (a dict of conditions, a dict of decoding options, a mode
string) through its ``of`` constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

ENGINES = ("auto", "slots", "generate")


def check_engine(engine: str, generate_kwargs: dict) -> None:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}.")
    if engine == "slots" and generate_kwargs:
        raise ValueError(f"engine='slots' takes no generate() arguments, got {sorted(generate_kwargs)}.")


@dataclass
class Conditions:
    """Column values the sampled records must have: one dict for every record, or one dict per record.

    Args:
        values: ``{column: value}`` for every record, or a list with one such dict per record.
        steer: condition the latent prior on the columns it was trained to condition on (classifier-free guidance,
            weighted by ``guidance_scale``), so the other columns follow the conditional distribution.
        force: write every value exactly under constrained decoding, so it holds in every record. ``force=False``
            leaves the values to the latent alone (to measure how well guidance steers); ``steer=False`` only fixes
            cells.
    """

    values: dict[str, Any] | list[dict[str, Any]]
    steer: bool = True
    force: bool = True

    @classmethod
    def of(cls, conditions: "Conditions | dict | list | None") -> "Conditions | None":
        if conditions is None or isinstance(conditions, Conditions):
            return conditions
        if not isinstance(conditions, (dict, list)):
            raise ValueError("conditions must be a dict, a list of dicts or a Conditions, got "
                             f"{type(conditions).__name__}.")
        return cls(conditions) if conditions else None

    def __post_init__(self):
        if not (self.steer or self.force):
            raise ValueError("Conditions that neither steer the latent nor are forced in decoding do nothing; set "
                             "steer=True or force=True.")

    @property
    def columns(self) -> list[str]:
        rows = self.values if isinstance(self.values, list) else [self.values]
        return list(dict.fromkeys(column for row in rows for column in (row or {})))


@dataclass
class DecodingOptions:
    """How the frozen LM writes records.

    Args:
        batch_size: records decoded together (``"auto"``: from free accelerator memory; 256 on a CPU).
        max_new_tokens: decoding budget per record (``None``: the pipeline's, set by training).
        do_sample, temperature, top_p: the LM's token sampling (``top_k`` is off: faithful to the LM).
        constrained: schema-constrained decoding (``None``: on when the pipeline has a schema), so every record
            parses and respects column kinds, category sets and ranges.
        engine: ``"slots"`` (a pool of slots refilled as records end), ``"generate"`` (``generate`` batch by
            batch, taking ``generate_kwargs``), ``"auto"`` (slots unless ``generate_kwargs`` are given).
        tool_call_consistency: for tool-use records under constrained decoding, decode each record's calls under a
            grammar of the functions it offers.
        generate_kwargs: extra arguments of the LM's ``generate`` (e.g. ``cache_implementation="static"``).
    """

    batch_size: int | str = "auto"
    max_new_tokens: int | None = None
    do_sample: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    constrained: bool | None = None
    engine: str = "auto"
    tool_call_consistency: bool = True
    generate_kwargs: dict = field(default_factory=dict)

    @classmethod
    def of(cls, decoding: "DecodingOptions | dict | None") -> "DecodingOptions":
        if isinstance(decoding, DecodingOptions):
            return decoding
        options = dict(decoding or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"Unknown decoding option(s) {unknown}; the options are {sorted(known)} (arguments of "
                             "the LM's generate go in generate_kwargs).")
        return cls(**options)

    def __post_init__(self):
        check_engine(self.engine, self.generate_kwargs)

    def decode_kwargs(self) -> dict:
        """These options as :meth:`LatentDiffusionLMPipeline.decode`'s keyword arguments."""
        options = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "generate_kwargs"}
        return {**options, **self.generate_kwargs}


@dataclass
class Privacy:
    """The privacy guard's mode and how many rounds rejected rows are drawn again.

    Args:
        mode: ``"reject_copies"`` re-draws rows equal to a training row; ``"dcr"`` also rows closer to their
            nearest training row than the threshold calibrated at fit time (see [`PrivacyGuard`]).
        max_rounds: re-draw rounds; rows still rejected after them are left out (and counted).
    """

    mode: str
    max_rounds: int = 10

    @classmethod
    def of(cls, privacy: "Privacy | str | None") -> "Privacy | None":
        if privacy is None or isinstance(privacy, Privacy):
            return privacy
        return cls(privacy)
