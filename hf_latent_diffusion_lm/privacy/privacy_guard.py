"""The sampling-time privacy guard stored with a pipeline: which generated rows must be drawn again.

Two modes:

- ``"reject_copies"``: a generated row whose values equal a training row's. The guard stores only 64-bit hashes of
  the training rows (:mod:`.record_hashing`), never the rows, keyed with a secret that stays on the machine that
  fitted the pipeline (:mod:`.privacy_keys`): whoever receives the pipeline cannot test a row against them.
- ``"dcr"``: also a generated row closer to its nearest training row than most unseen real rows are: closer than
  the ``quantile``-th percentile (default 5th) of the distances from held-back training rows to the others, measured
  at fit time. A row's distance to its nearest training row can only be measured against training rows, so this mode
  needs the training rows stored with the pipeline in *encoded* form (numbers scaled, categories one-hot,
  see :mod:`.record_encoding`): the user opts in at fit time (``privacy_reference=True``), knowing that whoever gets
  the pipeline gets those rows. Without the opt-in the pipeline holds hashes only and ``"dcr"`` is refused.

Calibration: ``calibration_rows`` training rows are held back, and their distances to the other training rows are
what an unseen real row's distance looks like; so an unseen row is rejected with probability about ``quantile``
percent (4.5-4.7% for 5 on adult's halves, BENCHMARKS.md). The stored reference then holds every training row,
held-back ones included, so the threshold protects all of them. A diffusers ``ModelMixin``, so the pipeline saves
and loads it like its other components (config.json for the numbers, safetensors for the hashes and the reference).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from ..data.record_validity import checked_records
from .privacy_keys import create_key, load_key
from .record_encoding import encode_records
from .record_hashing import record_hashes

PRIVACY_MODES = ("reject_copies", "dcr")


def _nearest_distances(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=1).fit(reference).kneighbors(queries)[0][:, 0]


class PrivacyGuard(ModelMixin, ConfigMixin):
    """Hash index of the training rows and, when opted in, the DCR threshold and its reference rows.

    Args:
        num_rows: distinct training rows in the hash index.
        quantile: percentile of held-back-row distances used as the DCR threshold.
        threshold: the DCR threshold (``None``: no reference was kept, ``"dcr"`` is unavailable).
        reference_rows, reference_width: shape of the encoded reference rows (0 rows: none kept).
        calibration_rows: training rows held back from the others to calibrate the threshold.
        key_id: names the secret key of the row hashes in the fitting machine's key folder (the key itself is
            never saved with the pipeline).
    """

    @register_to_config
    def __init__(
        self,
        num_rows: int = 0,
        quantile: float = 5.0,
        threshold: float | None = None,
        reference_rows: int = 0,
        reference_width: int = 0,
        calibration_rows: int = 0,
        key_id: str | None = None,
    ):
        super().__init__()
        self.register_buffer("row_hashes", torch.zeros(num_rows, dtype=torch.int64))
        self.register_buffer("reference", torch.zeros(reference_rows, reference_width))
        self._nearest = None
        self._secret = None

    def _apply(self, fn, recurse=True):
        """Let ``.to(dtype)`` (e.g. ``pipe.to("cuda", torch.bfloat16)``) move the reference but not round it: the
        threshold was calibrated on float32 distances."""
        reference = self.reference
        super()._apply(fn, recurse)
        self.reference = reference.to(self.row_hashes.device)
        return self

    @classmethod
    def fit(
        cls,
        schema,
        records: Sequence[dict],
        keep_reference: bool = False,
        quantile: float = 5.0,
        calibration_rows: int = 1000,
        seed: int = 0,
    ) -> "PrivacyGuard":
        """Hash the training ``records``; with ``keep_reference`` also calibrate the DCR threshold (on at most
        ``calibration_rows``, and a tenth of the rows, held back from the others) and keep every row encoded."""
        if not 0 < quantile < 100:
            raise ValueError(f"quantile must be a percentile between 0 and 100, got {quantile}.")
        key_id, secret = create_key()
        hashes = np.unique(record_hashes(schema, records, secret))
        if not keep_reference:
            guard = cls(num_rows=len(hashes), quantile=quantile, key_id=key_id)
        else:
            if not schema.has_columns:
                raise ValueError("The dcr guard (privacy_reference) measures distances between table rows; nested "
                                 "JSON records get the reject_copies guard only.")
            if len(records) < 2:
                raise ValueError("Calibrating the DCR threshold needs at least 2 training rows.")
            encoded = encode_records(schema, records)
            held_back = min(calibration_rows, max(1, len(records) // 10))
            order = np.random.default_rng(seed).permutation(len(records))
            distances = _nearest_distances(encoded[order[held_back:]], encoded[order[:held_back]])
            threshold = float(np.percentile(distances, quantile))
            guard = cls(num_rows=len(hashes), quantile=quantile, threshold=threshold, reference_rows=len(encoded),
                        reference_width=encoded.shape[1], calibration_rows=held_back, key_id=key_id)
            guard.reference.copy_(torch.from_numpy(encoded))
        guard.row_hashes.copy_(torch.from_numpy(hashes))
        guard._secret = secret
        return guard

    def _key(self) -> bytes:
        if self._secret is None:
            if self.config.key_id is None:
                raise ValueError("This pipeline's privacy guard holds unkeyed row hashes (saved by an older version, "
                                 "and a membership oracle for anyone holding the folder): refit the pipeline.")
            self._secret = load_key(self.config.key_id)
        return self._secret

    def check_mode(self, mode: str) -> None:
        """Raise unless this guard can run ``mode`` here (this machine holds the hashes' key), saying what to do
        instead."""
        if mode not in PRIVACY_MODES:
            raise ValueError(f"Unknown privacy mode {mode!r}; use one of {PRIVACY_MODES}.")
        self._key()
        if mode == "dcr" and self.config.threshold is None:
            raise ValueError("privacy='dcr' needs reference rows, which this pipeline does not keep (it holds hashes "
                             "only): fit with privacy_reference=True (ldlm fit --privacy-reference), or use "
                             "privacy='reject_copies'.")

    def copies(self, schema, records: Sequence[dict]) -> np.ndarray:
        """Which ``records`` equal a training row."""
        return np.isin(record_hashes(schema, records, self._key()), self.row_hashes.cpu().numpy())

    def nearest_training_distances(self, schema, records: Sequence[dict]) -> np.ndarray:
        """Distance of each record to its nearest reference row (needs the opt-in reference)."""
        self.check_mode("dcr")
        if self._nearest is None:
            from sklearn.neighbors import NearestNeighbors

            self._nearest = NearestNeighbors(n_neighbors=1).fit(self.reference.float().cpu().numpy())
        return self._nearest.kneighbors(encode_records(schema, records))[0][:, 0]

    def rejected(self, schema, records: Sequence[dict], mode: str) -> np.ndarray:
        """Which ``records`` ``mode`` rejects: copies, and for ``"dcr"`` rows closer than the threshold."""
        self.check_mode(mode)
        if not records:
            return np.zeros(0, dtype=bool)
        found = self.copies(schema, records)
        if mode == "dcr":
            found |= self.nearest_training_distances(schema, records) < self.config.threshold
        return found

    def rejected_texts(self, schema, texts: Sequence[str], mode: str) -> np.ndarray:
        """Which ``texts`` hold a record ``mode`` rejects (a text that does not parse holds no record)."""
        rows = [row for row, _ in checked_records(schema, texts)]
        parsed = [index for index, row in enumerate(rows) if row is not None]
        found = np.zeros(len(texts), dtype=bool)
        found[parsed] = self.rejected(schema, [rows[index] for index in parsed], mode)
        return found

    def describe(self) -> str:
        """What the guard holds and rejects, in words (the model card's privacy paragraph)."""
        config = self.config
        text = (f"`privacy=\"reject_copies\"` re-draws any sampled row equal to one of the {config.num_rows} "
                "distinct training rows, recognised by 64-bit BLAKE2b hashes of their values keyed with a secret "
                "that stays on the machine that fitted the pipeline (the pipeline stores the keyed hashes, neither "
                "the rows nor the key: a recipient cannot test a row against them, and only the key's holder can use "
                "this guard).")
        if config.threshold is None:
            return text + (" `privacy=\"dcr\"` is not available: no reference rows were kept at fit time "
                           "(`privacy_reference=True` keeps them).")
        return text + (
            f" `privacy=\"dcr\"` also re-draws rows whose distance to the nearest of the {config.reference_rows} "
            f"training rows (numbers scaled to the schema's range, categories one-hot) is below "
            f"{config.threshold:.4g}, the {config.quantile:g}th percentile of the distances of "
            f"{config.calibration_rows} held-back training rows to the others. **The training rows are stored in "
            "encoded form in `privacy_guard/`**: sharing this pipeline shares them.")
