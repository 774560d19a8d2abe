"""Rare categories and extreme values generalised before a table's schema is inferred.

The schema is published with the model (``schema.json``, the model card, the decoding grammar), and it lists every
category and each column's exact minimum and maximum: a ZIP code seen once, or the one salary far above the rest,
names a person. Like mostlyai-engine's ``_RARE_`` protection, a category held by fewer than ``min_category_count``
rows is merged into one placeholder category, and numeric and datetime values outside the ``range_quantile``-th and
``(100 - range_quantile)``-th percentiles are clipped to them. Both stages learn the generalised table, so neither
the schema nor the model has seen what was hidden. Text columns publish only their longest length and are left as
they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

RARE_CATEGORY = "_RARE_"
RARELY_SEEN = 5  # rows below which a published category is worth a notice when the protection is off


def _count(number: int, noun: str, plural: str | None = None) -> str:
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


@dataclass(frozen=True)
class ColumnChange:
    """What the protection did to one column."""

    name: str
    merged_categories: int = 0
    merged_rows: int = 0
    bounds: tuple | None = None  # (lowest, highest) value kept, when the range was bounded
    clipped_rows: int = 0
    kept_target: int = 0  # rare target categories kept: merging them would have left the target one category

    def describe(self, min_category_count: int, range_quantile: float) -> str:
        parts = []
        if self.merged_categories:
            parts.append(f"{_count(self.merged_categories, 'category', 'categories')} held by fewer than "
                         f"{min_category_count} rows merged into {RARE_CATEGORY!r} ({_count(self.merged_rows, 'row')})")
        if self.kept_target:
            parts.append(f"its {self.kept_target} rare categories kept (the target column: merging them would "
                         "leave a single category)")
        if self.clipped_rows:
            parts.append(f"{_count(self.clipped_rows, 'row')} clipped to [{self.bounds[0]}, {self.bounds[1]}] "
                         f"(percentiles {range_quantile:g} to {100 - range_quantile:g})")
        return f"  {self.name}: " + "; ".join(parts)


@dataclass(frozen=True)
class RareValueReport:
    """The protection applied to a table: its options, the columns it changed, and how many rarely seen
    categories each categorical column publishes (the notice when the protection is off)."""

    min_category_count: int
    range_quantile: float
    columns: tuple[ColumnChange, ...] = ()
    rarely_seen: dict[str, int] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.min_category_count > 1 or self.range_quantile > 0

    @property
    def changed(self) -> bool:
        return any(change.merged_rows or change.clipped_rows for change in self.columns)

    def protection(self) -> dict | None:
        """What the schema records of the protection (its options, no counts), ``None`` when off."""
        if not self.enabled:
            return None
        return {"min_category_count": self.min_category_count, "range_quantile": self.range_quantile,
                "placeholder": RARE_CATEGORY}

    def lines(self) -> list[str]:
        """What ``ldlm fit`` prints: the counts merged and clipped, and, while rare categories are kept, a notice of
        the rarely seen values the schema publishes."""
        found = []
        if self.min_category_count == 1 and self.rarely_seen:
            where = ", ".join(f"{name} ({count})" for name, count in self.rarely_seen.items())
            seldom = _count(sum(self.rarely_seen.values()), "category", "categories")
            found.append(f"Notice: the schema and model card publish {seldom} seen in fewer than {RARELY_SEEN} rows, "
                         f"in {where}; --min-category-count {RARELY_SEEN} merges such values into {RARE_CATEGORY!r}.")
        if self.enabled:
            merged = sum(change.merged_categories for change in self.columns)
            rows = sum(change.merged_rows for change in self.columns)
            clipped = sum(change.clipped_rows for change in self.columns)
            found.append(f"Rare values (--min-category-count {self.min_category_count}, --range-quantile "
                         f"{self.range_quantile:g}): {_count(merged, 'category', 'categories')} merged "
                         f"({_count(rows, 'row')}), {_count(clipped, 'value')} clipped" + (":" if self.columns else "."))
            found.extend(change.describe(self.min_category_count, self.range_quantile) for change in self.columns)
        return found


def _merge_rare(values: pd.Series, min_category_count: int, is_target: bool) -> tuple[pd.Series, ColumnChange]:
    counts = values.value_counts(dropna=True)
    rare = counts[counts < min_category_count]
    if rare.empty:
        return values, ColumnChange(values.name)
    if is_target and len(rare) == len(counts):
        return values, ColumnChange(values.name, kept_target=len(rare))
    merged = values.astype(object).mask(values.isin(rare.index), RARE_CATEGORY)
    return merged, ColumnChange(values.name, len(rare), int(rare.sum()))


def _order_keys(values: pd.Series, kind: str) -> pd.Series:
    """Values that sort as the column's do: the numbers themselves, timestamps in UTC (ISO texts parsed)."""
    if kind == "numerical" or pd.api.types.is_datetime64_any_dtype(values):
        return values
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _clip(values: pd.Series, kind: str, range_quantile: float) -> tuple[pd.Series, ColumnChange]:
    """Clip to the values at the two percentiles' ranks: bounds are values of the column (integers stay integers,
    decimals keep their precision, datetime texts their format) and, in the middle of the data, name no one."""
    keys = _order_keys(values, kind).reset_index(drop=True)
    ranked = keys.dropna().sort_values(kind="stable").index
    if ranked.empty:
        return values, ColumnChange(values.name)
    cut = round(range_quantile / 100 * (len(ranked) - 1))
    low, high = ranked[cut], ranked[len(ranked) - 1 - cut]
    present = keys.where(keys.notna(), keys[low])  # missing values compare as inside the bounds
    below, above = (present < keys[low]).to_numpy(), (present > keys[high]).to_numpy()
    clipped = values.reset_index(drop=True)
    bounds = (clipped[low], clipped[high])
    if below.any() or above.any():
        clipped = clipped.copy()
        clipped[below], clipped[above] = bounds
    return clipped.set_axis(values.index), ColumnChange(values.name, bounds=bounds,
                                                        clipped_rows=int(below.sum() + above.sum()))


def protect_rare_values(frame: pd.DataFrame, schema, min_category_count: int = 1,
                        range_quantile: float = 0.0) -> tuple[pd.DataFrame, RareValueReport]:
    """``frame`` with rare categories merged and ranges bounded (the column kinds read from ``schema``, the raw
    table's :class:`.TableSchema`), and the report of what changed; ``frame`` itself when nothing did."""
    columns, changes, rarely_seen = {}, [], {}
    for column in schema.columns:
        values = frame[column.name]
        if column.kind == "categorical":
            seldom = int((values.value_counts(dropna=True) < RARELY_SEEN).sum())
            if seldom:
                rarely_seen[column.name] = seldom
            if min_category_count > 1:
                columns[column.name], change = _merge_rare(values, min_category_count, column.name == schema.target)
                changes.append(change)
        elif column.kind in ("numerical", "datetime") and range_quantile > 0:
            columns[column.name], change = _clip(values, column.kind, range_quantile)
            changes.append(change)
    changes = tuple(change for change in changes if change.merged_rows or change.clipped_rows or change.kept_target)
    report = RareValueReport(min_category_count, range_quantile, changes, rarely_seen)
    if not report.changed:
        return frame, report
    generalised = frame.copy()
    for name, values in columns.items():
        generalised[name] = values
    return generalised, report
