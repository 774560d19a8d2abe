"""Privacy at sampling time: a guard stored with the pipeline that re-draws copied and near-copied rows."""

from .guarded_sampling import GuardedTexts, redraw_rejected, rejected_texts
from .privacy_guard import PRIVACY_MODES, PrivacyGuard

__all__ = ["PRIVACY_MODES", "GuardedTexts", "PrivacyGuard", "redraw_rejected", "rejected_texts"]
