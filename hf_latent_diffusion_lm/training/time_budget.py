"""A fit's wall-clock budget (``ldlm fit --time-budget 60m``), shared out between the stages, and the mixed
precision a machine trains fastest in."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import torch

from ..native_bf16 import has_native_bf16

# Shares of the budget. On Adult (one CPU thread) stage 1's field accuracy was flat after a third of a 25-minute budget
# (93.8% -> 94.6%), and in a 60-minute one 93.1% at 10 minutes and 94.7% at 36, while 8 more minutes of the prior
# moved shape error from 5.0% to 3.9%: the latent prior needs the time.
STAGE1_SHARE, STAGE2_SHARE = 0.45, 0.5
UNLIMITED_STEPS = 10**7  # with a time budget and no step count given, the clock ends each stage
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str | float | int | None) -> float | None:
    """Seconds in ``"90s"``, ``"45m"``, ``"1.5h"`` or a bare number of seconds; ``None`` stays ``None``."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"time_budget (--time-budget) must be a positive duration such as 90s, 45m or 1h, "
                         f"got {text!r}.")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@dataclass
class Deadline:
    """When a stage must stop (``None``: no budget)."""

    at: float | None

    @classmethod
    def share(cls, budget_seconds: float | None, share: float, started: float | None = None) -> "Deadline":
        if budget_seconds is None:
            return cls(None)
        return cls((started or time.time()) + budget_seconds * share)

    def passed(self) -> bool:
        return self.at is not None and time.time() >= self.at

    def left(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - time.time())


def resolve_mixed_precision(value: str) -> str:
    """``"auto"``: ``bf16`` on a GPU or CPU that supports it, else ``no``; other values unchanged."""
    if value != "auto":
        return value
    return "bf16" if has_native_bf16("cuda" if torch.cuda.is_available() else "cpu") else "no"
