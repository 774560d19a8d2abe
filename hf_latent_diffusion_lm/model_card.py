"""The README.md model card of a saved pipeline, rendered from the packaged ``resources/model_card_template.md``."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

TEMPLATE = "model_card_template.md"


def _schema_table(schema) -> str:
    if schema is None:
        return "| (free text) | | |"
    stored = schema.to_dict()
    if "json_schema" in stored:
        return _json_schema_rows(schema.json_schema)
    rows = []
    for column in stored["columns"]:
        kind = column.get("kind", "")
        if "categories" in column:
            values = ", ".join(map(str, column["categories"][:12])) + (" …" if len(column["categories"]) > 12 else "")
        elif "minimum" in column:
            values = f"{column['minimum']} … {column['maximum']}"
        else:
            values = ""
        rows.append(f"| {column['name']} | {kind} | {values} |")
    return "\n".join(rows)


def _json_schema_rows(json_schema: dict) -> str:
    """One row per top-level key of a nested record: its JSON type and what bounds it (nested parts in brief)."""
    rows = []
    for name, spec in json_schema.get("properties", {}).items():
        kind = spec.get("type", "any") if isinstance(spec, dict) else "any"
        bounds = {key: spec[key] for key in ("enum", "minimum", "maximum", "maxLength", "minItems", "maxItems")
                  if isinstance(spec, dict) and key in spec}
        rows.append(f"| {name} | {kind} | {json.dumps(bounds, ensure_ascii=False)[:200] if bounds else ''} |")
    return "\n".join(rows)


def _schema_metadata(schema) -> dict | None:
    """The card metadata's ``record_schema``: each column's kind, or each top-level key's JSON type."""
    if schema is None:
        return None
    if schema.has_columns:
        return {column.name: column.kind for column in schema.columns}
    return {name: spec.get("type", "any") if isinstance(spec, dict) else "any"
            for name, spec in schema.json_schema.get("properties", {}).items()}


def _bullets(mapping: dict | None, empty: str) -> str:
    if not mapping:
        return empty
    return "\n".join(f"- {key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}"
                     for key, value in mapping.items())


def _published_values(schema) -> str:
    """What the schema table above reveals of the training data: every category and exact range, or, with the
    rare-value protection (``--min-category-count``, ``--range-quantile``), neither rare categories nor extremes."""
    if schema is None or not schema.has_columns:
        return ""
    protection = schema.protection or {}
    count, quantile = protection.get("min_category_count", 1), protection.get("range_quantile", 0)
    done = []
    if count > 1:
        done.append(f"categories held by fewer than {count} training rows were merged into "
                    f"`{protection['placeholder']}` (`--min-category-count {count}`)")
    if quantile > 0:
        done.append(f"numeric and datetime values outside percentiles {quantile:g} to {100 - quantile:g} of each "
                    f"column were clipped to those bounds (`--range-quantile {quantile:g}`)")
    if not done:
        return ("The schema above lists every category of the training data, even one held by a single row, and "
                "each column's exact minimum and maximum; `ldlm fit --min-category-count 5 --range-quantile 1` "
                "leaves rare categories and extremes out.")
    return "Before the schema was inferred and the model trained, " + " and ".join(done) + "."


def _privacy_paragraph(pipe) -> str:
    guard = getattr(pipe, "privacy_guard", None)
    if guard is None:
        text = ("No sampling guard is stored with this pipeline: sampled rows may copy training rows. Refit with "
                "this package's training to get one (`pipe(..., privacy=\"reject_copies\")`).")
    else:
        text = guard.describe() + " Without `privacy=...` (or `ldlm sample --privacy ...`) no row is re-drawn."
    published = _published_values(pipe.schema)
    return f"{text}\n\n{published}" if published else text


def render_model_card(pipe, repo_id: str | None = None) -> ModelCard:
    """A model card for ``pipe`` from its components, schema and ``pipe.config.card_metadata``."""
    extras = dict(pipe.config.get("card_metadata") or {})
    vae, reference = pipe.vae.config, pipe.decoder_reference
    portable = not os.path.isabs(reference.name_or_path)  # a Hub id, not a path on the training machine
    card_data = ModelCardData(library_name="hf-latent-diffusion-lm", license=extras.get("license", "other"),
                              base_model=extras.get("base_model") or (reference.name_or_path if portable else None),
                              tags=["synthetic-data", "tabular", "latent-diffusion", "diffusers", "difflm"],
                              pipeline_tag="text-generation",
                              record_schema=_schema_metadata(pipe.schema))
    encoder = (extras.get("encoder") or vae.encoder_name_or_path
               or f"{vae.encoder_config.get('model_type', 'encoder')} trained from scratch")
    conditioning = pipe.condition_encoder.columns if pipe.condition_encoder is not None else []
    template = resources.files("hf_latent_diffusion_lm") / "resources" / TEMPLATE
    return ModelCard.from_template(
        card_data, template_str=template.read_text(encoding="utf-8"),
        model_name=extras.get("model_name", "Latent-diffusion LM for synthetic records"),
        repo_id=repo_id or "path/to/this/directory",
        latent_dim=vae.latent_dim,
        injection=("per field, into each token's embedding and logits" if vae.injection_method == "field"
                   else f"{vae.injection_method}, {vae.num_soft_tokens} positions"),
        decoder=reference.describe(), decoder_fingerprint=reference.fingerprint,
        encoder=encoder, pooling=vae.pooling,
        scheduler=type(pipe.scheduler).__name__,
        data_description=extras.get("data", "Not recorded."),
        schema_table=_schema_table(pipe.schema),
        condition_columns=", ".join(conditioning) or "none",
        training_config=_bullets(extras.get("training"), "Not recorded."),
        metrics=_bullets(extras.get("metrics"), "Not measured yet: run `ldlm evaluate REAL SYNTHETIC`."),
        privacy=_privacy_paragraph(pipe),
    )


def write_model_card(pipe, directory: str | os.PathLike, repo_id: str | None = None) -> Path:
    path = Path(directory) / "README.md"
    render_model_card(pipe, repo_id).save(path)
    return path
