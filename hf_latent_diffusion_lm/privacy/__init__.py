"""Privacy at sampling time: a guard stored with the pipeline that re-draws copied and near-copied rows (the re-draw
loop itself is :mod:`..pipelines.redrawing`)."""

from .privacy_guard import PRIVACY_MODES, PrivacyGuard

__all__ = ["PRIVACY_MODES", "PrivacyGuard"]
