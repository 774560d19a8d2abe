"""The sampling guard: with ``reject_copies`` no returned row is a training row, with ``dcr`` no returned row is
closer to the training rows than the calibrated threshold, and the guard survives save/load without storing rows
unless the user opted in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from diffusers import DiffusionPipeline

from hf_latent_diffusion_lm import Conditions, Privacy, PrivacyGuard
from hf_latent_diffusion_lm.data.table_schema import TableSchema
from hf_latent_diffusion_lm.privacy.record_encoding import encode_records
from hf_latent_diffusion_lm.testing import tiny_pipeline

FIXTURE = Path(__file__).parent / "fixtures" / "adult_sample.csv"
COLUMNS = ["age", "workclass", "fnlwgt", "sex", "income"]


@pytest.fixture(scope="module")
def halves():
    frame = pd.read_csv(FIXTURE, skipinitialspace=True)[COLUMNS]
    return frame.iloc[:150].reset_index(drop=True), frame.iloc[150:].reset_index(drop=True)


@pytest.fixture(scope="module")
def schema(halves):
    return TableSchema.infer(pd.concat(halves, ignore_index=True))


@pytest.fixture(scope="module")
def guard(schema, halves):
    return PrivacyGuard.fit(schema, schema.records(halves[0]), keep_reference=True, quantile=5.0)


def guarded_pipeline(schema, guard):
    pipe = tiny_pipeline(schema=schema, max_new_tokens=160)
    pipe.register_modules(privacy_guard=guard)  # (plain assignment does not register a component that was None)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_hashes_recognise_training_rows_whatever_their_number_type(schema, halves, guard):
    train, unseen = halves
    records = schema.records(train)
    as_floats = [{**record, "age": float(record["age"])} for record in records]  # "39.0" is still 39
    assert guard.copies(schema, as_floats).all()
    assert not guard.copies(schema, schema.records(unseen)).any()  # the sample's fnlwgt values are all distinct


def test_dcr_threshold_rejects_about_the_quantile_of_unseen_rows(schema, halves, guard):
    train, unseen = halves
    assert guard.config.threshold > 0 and guard.config.calibration_rows == 15
    assert guard.config.reference_rows == len(train)
    assert guard.nearest_training_distances(schema, schema.records(train)).max() == pytest.approx(0.0, abs=1e-6)
    share = guard.rejected(schema, schema.records(unseen), "dcr").mean()
    assert share < 0.2


def test_reject_copies_returns_no_training_row(schema, halves, guard):
    train, _ = halves
    pipe = guarded_pipeline(schema, guard)
    records = schema.records(train.iloc[:6])
    # Rows 0-2 have every value fixed to a training row: only copies can come out, so they are dropped after the
    # last round. Rows 3-5 fix all but fnlwgt, so a re-draw can leave the training row.
    fixed = records[:3] + [{k: v for k, v in record.items() if k != "fnlwgt"} for record in records[3:]]
    unguarded = pipe(num_samples=6, conditions=Conditions(fixed, steer=False), output_type="records",
                     num_inference_steps=3, generator=torch.Generator().manual_seed(0))
    assert unguarded.validity == 1.0 and guard.copies(schema, unguarded.records)[:3].all()
    output = pipe(num_samples=6, conditions=Conditions(fixed, steer=False), output_type="records",
                  num_inference_steps=3, privacy=Privacy("reject_copies", max_rounds=2),
                  generator=torch.Generator().manual_seed(0))
    assert output.privacy_dropped >= 3 and output.privacy_redraws >= 6
    assert len(output.texts) == len(output.latents) == 6 - output.privacy_dropped
    returned = pd.DataFrame(output.records)
    assert returned.merge(train, how="inner").empty  # checked without the guard's hashes


def test_dcr_returns_no_row_closer_than_the_threshold(schema, halves, guard):
    train, _ = halves
    pipe = guarded_pipeline(schema, guard)
    records = schema.records(train.iloc[20:26])
    # Rows 0-2 are near-copies (a reference row with fnlwgt off by one): no exact copy, but far closer than any
    # unseen row. Rows 3-5 leave age free.
    fixed = [{**record, "fnlwgt": record["fnlwgt"] + 1} for record in records[:3]]
    fixed += [{k: v for k, v in record.items() if k != "age"} for record in records[3:]]
    options = dict(num_samples=6, conditions=Conditions(fixed, steer=False), output_type="records",
                   num_inference_steps=3)
    copies_only = pipe(privacy=Privacy("reject_copies", max_rounds=2), generator=torch.Generator().manual_seed(1),
                       **options)
    assert copies_only.privacy_dropped == 0 and len(copies_only.records) == 6  # near-copies pass this guard
    output = pipe(privacy=Privacy("dcr", max_rounds=2), generator=torch.Generator().manual_seed(1), **options)
    assert output.privacy_dropped >= 3 and output.privacy_redraws >= 6
    reference = guard.reference.numpy()
    for row in encode_records(schema, output.records):
        assert np.sqrt(((reference - row) ** 2).sum(axis=1)).min() >= guard.config.threshold


def test_dcr_without_the_reference_opt_in_is_refused(schema, halves):
    hashes_only = PrivacyGuard.fit(schema, schema.records(halves[0]))
    pipe = guarded_pipeline(schema, hashes_only)
    assert hashes_only.reference.numel() == 0
    with pytest.raises(ValueError, match="privacy_reference"):
        pipe(num_samples=1, privacy="dcr")
    with pytest.raises(ValueError, match="Unknown privacy mode"):
        pipe(num_samples=1, privacy="strict")
    with pytest.raises(ValueError, match="privacy guard"):
        guarded_pipeline(schema, None)(num_samples=1, privacy="reject_copies")


def test_guard_round_trips_through_save_and_load(schema, guard, tmp_path):
    pipe = guarded_pipeline(schema, guard)
    pipe.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "privacy_guard" / "config.json").read_text())
    assert config["threshold"] == pytest.approx(guard.config.threshold)
    assert not list((tmp_path / "privacy_guard").glob("*.bin"))
    loaded = DiffusionPipeline.from_pretrained(tmp_path)
    assert torch.equal(loaded.privacy_guard.row_hashes, guard.row_hashes)
    assert torch.equal(loaded.privacy_guard.reference, guard.reference)
    card = (tmp_path / "README.md").read_text()
    assert "reject_copies" in card and f"{guard.config.threshold:.4g}" in card


def test_fit_and_sample_commands_store_and_apply_the_guard(halves, tmp_path, capsys):
    from hf_latent_diffusion_lm.cli import main as ldlm

    train, _ = halves
    train.to_csv(tmp_path / "train.csv", index=False)
    assert ldlm(["fit", str(tmp_path / "train.csv"), "--out", str(tmp_path / "model"), "--preset", "tiny",
                 "--max-steps", "4", "--diffusion-max-steps", "20", "--batch-size", "16", "--privacy-reference"]) == 0
    card = (tmp_path / "model" / "README.md").read_text()
    assert "privacy=\"dcr\"" in card and "held-back training rows" in card
    for mode in ("reject_copies", "dcr"):
        out = tmp_path / f"{mode}.csv"
        assert ldlm(["sample", str(tmp_path / "model"), "-n", "8", "--out", str(out), "--privacy", mode]) == 0
        assert f"Privacy guard {mode}: re-drew" in capsys.readouterr().out
        assert pd.read_csv(out).merge(train, how="inner").empty


def test_casting_the_pipeline_keeps_the_reference_exact(schema, halves):
    guard = PrivacyGuard.fit(schema, schema.records(halves[0]), keep_reference=True)
    before = guard.reference.clone()
    guard.to(torch.bfloat16)
    assert guard.reference.dtype == torch.float32 and torch.equal(guard.reference, before)
    assert guard.row_hashes.dtype == torch.int64


def test_a_shared_pipeline_folder_is_no_membership_oracle(schema, halves, tmp_path, privacy_key_folder, monkeypatch):
    """Given only the saved folder (default options) and a candidate row, no file answers "was it a training row":
    the row hashes are keyed with a secret kept outside the folder, so hashing a candidate finds nothing."""
    import hashlib

    from hf_latent_diffusion_lm.privacy.privacy_keys import KEY_FOLDER_VARIABLE, PrivacyKeyMissing
    from hf_latent_diffusion_lm.privacy.record_hashing import record_key

    train, _ = halves
    hashes_only = PrivacyGuard.fit(schema, schema.records(train))
    guarded_pipeline(schema, hashes_only).save_pretrained(tmp_path / "shared")
    folder_bytes = b"".join(path.read_bytes() for path in (tmp_path / "shared").rglob("*") if path.is_file())
    key = (privacy_key_folder / f"{hashes_only.config.key_id}.key").read_bytes()
    assert key not in folder_bytes
    for record in schema.records(train)[:20]:
        text = record_key(schema, record).encode("utf-8")
        assert hashlib.blake2b(text, digest_size=8).digest() not in folder_bytes  # the unkeyed hash is not stored
        assert hashlib.blake2b(text, digest_size=8, key=key).digest() in folder_bytes  # the owner's keyed one is
        assert text not in folder_bytes

    monkeypatch.setenv(KEY_FOLDER_VARIABLE, str(tmp_path / "a recipient's empty key folder"))
    received = DiffusionPipeline.from_pretrained(tmp_path / "shared")
    with pytest.raises(PrivacyKeyMissing, match="never saved with the pipeline"):
        received(num_samples=1, privacy="reject_copies")
    monkeypatch.setenv(KEY_FOLDER_VARIABLE, str(privacy_key_folder))
    owner = DiffusionPipeline.from_pretrained(tmp_path / "shared")
    assert owner.privacy_guard.copies(schema, schema.records(train)).all()
