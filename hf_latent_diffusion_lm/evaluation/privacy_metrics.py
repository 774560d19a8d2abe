"""The privacy section of an evaluation: DCR share and a membership-inference attack on the same references.

Both need real rows the generator never saw (a holdout). Following TabSyn, the training and holdout references have
equal size, so that 0.5 is the ideal DCR share whatever the data; the benchmark gets them by training on one half of
a 50/50 split of the training data (a test split that is much smaller than the training set inflates a copier's
share to 0.5 + 0.5 * n_holdout / n_train instead of 1.0, which is why the report says where the holdout came from).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .distance_to_closest_record import distance_to_closest_record
from .membership_inference import distance_attack_auc

EXPLANATION = (
    "DCR share: the share of synthetic rows whose nearest real row (distances over scaled numbers and one-hot "
    "categories) is a training row rather than a holdout row of an equally large holdout set. 0.5 means the "
    "synthetic rows are no closer to the training rows than to unseen rows; 1.0 means they sit on training rows "
    "(copies or near-copies). Distance attack AUC: an attacker holding the synthetic table guesses that a real "
    "record was in the training data when a synthetic row lies close to it; the ROC-AUC of that guess over training "
    "vs holdout records is 0.5 when the attacker learns nothing about membership and 1.0 when every training "
    "record is revealed. Neither number is a formal guarantee (such as differential privacy): they measure what "
    "these two tests can detect."
)


@dataclass
class PrivacyReport:
    """The ``privacy`` keys of ``report.json``."""

    dcr_share: float  # share of synthetic rows closer to train than to holdout, 0.5 is ideal
    reference_rows: int  # rows in each of the equal-size train and holdout references
    distance_attack_auc: float  # membership-inference ROC-AUC, 0.5 is ideal
    holdout: str  # where the holdout rows came from ("holdout" or "real test split")
    explanation: str = EXPLANATION


def privacy_metrics(train: np.ndarray, holdout: np.ndarray, synthetic: np.ndarray, holdout_name: str) -> PrivacyReport:
    """DCR share and distance-attack AUC of encoded ``synthetic`` rows against equal-size encoded references."""
    dcr = distance_to_closest_record(train, holdout, synthetic)
    auc = distance_attack_auc(train, holdout, synthetic)
    return PrivacyReport(dcr.share_closer_to_train, dcr.reference_rows, auc, holdout_name)
