"""Scoring synthetic nested records (tool calls, JSON payloads) against the real records they imitate.

Validity (schema and, for tool-use records, semantic), privacy (exact copies, near-copies of the question text),
diversity (function names, argument-key sets, distinct-n of questions), per-path marginals and α-precision /
β-recall in the MiniLM embedding space of the records' canonical text.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.json_record_schema import JsonRecordSchema
from ..data.tool_call_validity import is_tool_call_schema, tool_call_problems
from .alpha_precision_beta_recall import alpha_precision_beta_recall
from .record_paths import path_similarity
from .text_overlap import distinct_n, max_ngram_overlap

TEXT_KEY = "question"
NEAR_COPY_OVERLAP = 0.8
MAX_EXAMPLES = 5
RECORD_PLOT = "record_evaluation.png"
HEADLINE_LABELS = {
    "schema_validity": "Schema validity ↑",
    "semantic_validity": "Semantic validity (calls fit their functions) ↑",
    "exact_copy_rate": "Exact copies of training records ↓",
    "near_copy_rate": f"Near-copies (question {NEAR_COPY_OVERLAP:.0%}+ trigram overlap) ↓",
    "mean_max_overlap": "Mean max trigram overlap of questions ↓",
    "marginal_similarity": "Per-path marginal similarity ↑",
    "alpha_precision": "α-precision (MiniLM embeddings) ↑",
    "beta_recall": "β-recall (MiniLM embeddings) ↑",
}


@dataclass
class RecordEvaluationReport:
    """What :func:`evaluate_records` measured; ``None`` where a metric does not apply (``notes`` says why)."""

    rows: dict[str, int]
    schema_validity: float | None = None
    semantic_validity: float | None = None
    exact_copy_rate: float | None = None
    near_copy_rate: float | None = None
    mean_max_overlap: float | None = None
    marginal_similarity: float | None = None
    alpha_precision: float | None = None
    beta_recall: float | None = None
    diversity: dict[str, dict] = field(default_factory=dict)  # {"real": {...}, "synthetic": {...}}
    path_scores: dict[str, dict] = field(default_factory=dict)
    invalid_examples: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def headline(self) -> dict[str, float | None]:
        return {key: getattr(self, key) for key in HEADLINE_LABELS}


def _key(record: dict) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


def diversity(records: Sequence[dict], tool_calls: bool) -> dict:
    """Distinct function names and argument-key sets among the calls, distinct-1/2 of the question texts."""
    found = {}
    if tool_calls:
        calls = [c for r in records for c in r.get("calls") or [] if isinstance(c, dict)]
        found["calls"] = len(calls)
        found["distinct_function_names"] = len({str(c.get("name")) for c in calls})
        found["distinct_argument_key_sets"] = len({tuple(sorted(c.get("arguments") or {})) for c in calls})
    texts = [r[TEXT_KEY] for r in records if isinstance(r.get(TEXT_KEY), str)]
    if texts:
        found["distinct_1"], found["distinct_2"] = distinct_n(texts, 1), distinct_n(texts, 2)
    return found


def evaluate_records(
    real: Sequence[dict],
    synthetic: Sequence[dict],
    schema: JsonRecordSchema | None = None,
    embeddings: bool = True,
) -> RecordEvaluationReport:
    """Score ``synthetic`` records against ``real`` ones; ``schema`` defaults to the one inferred from ``real``.

    ``embeddings=False`` skips α-precision/β-recall (they load MiniLM and embed every record).
    """
    if not real or not synthetic:
        raise ValueError(f"evaluate_records needs real and synthetic records (got {len(real)} and {len(synthetic)}).")
    schema = schema or JsonRecordSchema.infer(real)
    report = RecordEvaluationReport(rows={"real": len(real), "synthetic": len(synthetic)})
    problems = [schema.validate(record) for record in synthetic]
    report.schema_validity = sum(not p for p in problems) / len(synthetic)
    tool_calls = is_tool_call_schema(schema)
    if tool_calls:
        semantic = [tool_call_problems(record) for record in synthetic]
        report.semantic_validity = sum(not p for p in semantic) / len(synthetic)
        problems = [a + b for a, b in zip(problems, semantic)]
    else:
        report.notes.append("Semantic validity applies to tool-use records (functions and calls); not computed.")
    report.invalid_examples = [{"record": i, "problems": p} for i, p in enumerate(problems) if p][:MAX_EXAMPLES]

    real_keys = {_key(record) for record in real}
    report.exact_copy_rate = sum(_key(record) in real_keys for record in synthetic) / len(synthetic)
    real_texts = [r[TEXT_KEY] for r in real if isinstance(r.get(TEXT_KEY), str)]
    fake_texts = [r[TEXT_KEY] for r in synthetic if isinstance(r.get(TEXT_KEY), str)]
    if real_texts and fake_texts:
        overlaps = max_ngram_overlap(real_texts, fake_texts)
        report.near_copy_rate = float(np.mean([o >= NEAR_COPY_OVERLAP for o in overlaps]))
        report.mean_max_overlap = float(np.mean(overlaps))
    else:
        report.notes.append(f"Near-copies compare the {TEXT_KEY!r} texts; the records have none.")
    report.diversity = {"real": diversity(real, tool_calls), "synthetic": diversity(synthetic, tool_calls)}

    report.path_scores = path_similarity(real, synthetic, schema.json_schema)
    scores = [entry["score"] for entry in report.path_scores.values() if entry["score"] is not None]
    report.marginal_similarity = float(np.mean(scores)) if scores else None

    if embeddings:
        from .record_embeddings import embed_texts

        vectors = embed_texts([schema.to_text(r) for r in real] + [schema.to_text(r) for r in synthetic])
        report.alpha_precision, report.beta_recall = alpha_precision_beta_recall(vectors[: len(real)],
                                                                                 vectors[len(real):])
    else:
        report.notes.append("α-precision/β-recall skipped (embeddings=False).")
    return report


def _format(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def record_report_markdown(report: RecordEvaluationReport) -> str:
    lines = ["# Synthetic record evaluation", "", f"Records: {report.rows}", "", "| Metric | Value |", "|---|---|"]
    lines += [f"| {HEADLINE_LABELS[key]} | {_format(value)} |" for key, value in report.headline().items()]
    lines += ["", "## Diversity", "", "| Measure | Real | Synthetic |", "|---|---|---|"]
    for name, value in report.diversity["real"].items():
        lines.append(f"| {name} | {value:.4g} | {report.diversity['synthetic'].get(name, float('nan')):.4g} |")
    worst = sorted((item for item in report.path_scores.items() if item[1]["score"] is not None),
                   key=lambda item: item[1]["score"])[:15]
    lines += ["", "## Least similar paths", "", "| Path | Type | Length | Values | Score |", "|---|---|---|---|---|"]
    lines += [f"| `{path}` | {_format(s['type'])} | {_format(s['length'])} | {_format(s['values'])} | "
              f"{_format(s['score'])} |" for path, s in worst]
    if report.invalid_examples:
        lines += ["", "## Invalid records (first few)", ""]
        lines += [f"- record {e['record']}: {'; '.join(e['problems'][:3])}" for e in report.invalid_examples]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    lines += ["", f"![record evaluation]({RECORD_PLOT})", ""]
    return "\n".join(lines)


def write_record_report(report: RecordEvaluationReport, out_dir: str | Path) -> Path:
    """Write ``report.json``, ``report.md`` and the summary figure to ``out_dir`` (created if needed)."""
    from .record_plots import plot_record_evaluation

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    (out_dir / "report.md").write_text(record_report_markdown(report), encoding="utf-8")
    plot_record_evaluation(report, out_dir / RECORD_PLOT)
    return out_dir
