"""Controllable generation: condition encoding, classifier-free guidance in the latent, errors on bad conditions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from diffusers import EDMEulerScheduler

from hf_latent_diffusion_lm import LatentDenoiserMLP
from hf_latent_diffusion_lm.data.condition_encoder import ConditionEncoder
from hf_latent_diffusion_lm.testing import tiny_pipeline

CENTERS = torch.tensor([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])


def test_condition_encoder_fits_categories_and_quantile_bins():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"income": rng.choice(["<=50K", ">50K"], 500), "age": rng.integers(17, 90, 500)})
    encoder = ConditionEncoder.fit(frame, ["income", "age"], num_bins=4)
    assert encoder.num_classes == [2, 4]
    indices = encoder.encode_frame(frame)
    assert indices.shape == (500, 2)
    assert set(indices[:, 1].tolist()) == {0, 1, 2, 3}  # quartiles: every bin is used
    assert np.bincount(indices[:, 1].numpy()).min() > 80
    assert encoder.encode({"income": ">50K"}, 3).tolist() == [[1, 4]] * 3  # age unconditioned -> null index 4
    assert ConditionEncoder.from_dict(encoder.to_dict()).encode_frame(frame).equal(indices)


def test_condition_encoder_names_bad_columns_and_values():
    frame = pd.DataFrame({"income": ["<=50K", ">50K"], "age": [30, 40]})
    with pytest.raises(KeyError, match="'incme'.*income, age"):
        ConditionEncoder.fit(frame, ["incme"])
    encoder = ConditionEncoder.fit(frame, ["income"])
    with pytest.raises(ValueError, match="'>60K' is not a known value of 'income'"):
        encoder.encode({"income": ">60K"}, 1)
    with pytest.raises(ValueError, match="Cannot condition on 'age'"):
        encoder.encode({"age": 30}, 1)


@pytest.fixture(scope="module")
def conditional_denoiser():
    """A denoiser trained on three 2-D clusters, conditioned on the cluster label with condition dropout."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    labels = torch.multinomial(torch.tensor([0.6, 0.3, 0.1]), 4096, replacement=True, generator=generator)
    data = CENTERS[labels] + 0.3 * torch.randn(4096, 2, generator=generator)
    denoiser = LatentDenoiserMLP(latent_dim=2, hidden_dim=128, num_layers=3, noise_embedding_dim=32,
                                 condition_num_classes=[3], condition_dropout=0.2)
    denoiser.set_latent_statistics(data.mean(0), data.std(0))
    latents = denoiser.normalize(data)
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=2e-3)
    for _ in range(800):
        index = torch.randint(0, 4096, (512,), generator=generator)
        loss = denoiser.edm_loss(latents[index], condition=labels[index, None], generator=generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return denoiser.eval()


def guided_share(denoiser, label: int, guidance: float) -> float:
    pipe = tiny_pipeline(latent_dim=2)
    pipe.denoiser = denoiser
    pipe.scheduler = EDMEulerScheduler()
    condition = torch.full((2000, 1), label, dtype=torch.long)
    samples = pipe.sample_latents(2000, 30, torch.Generator().manual_seed(1), condition, guidance)
    return (torch.cdist(samples, CENTERS).argmin(1) == label).float().mean().item()


def test_guidance_steers_toward_the_rare_condition(conditional_denoiser):
    # The rarest cluster (10% of the data) on demand; guidance sharpens it further.
    plain, guided = guided_share(conditional_denoiser, 2, 1.0), guided_share(conditional_denoiser, 2, 3.0)
    assert plain > 0.85
    assert guided >= plain and guided > 0.95


def test_conditions_the_model_cannot_honour_are_refused():
    pipe = tiny_pipeline()
    with pytest.raises(ValueError, match="need constrained decoding"):
        pipe(num_samples=1, conditions={"income": ">50K"}, decoding={"max_new_tokens": 4})


ADULT_COLUMNS = ["age", "workclass", "education", "sex", "hours-per-week", "income"]


@pytest.fixture(scope="module")
def adult_frame():
    from pathlib import Path

    from hf_latent_diffusion_lm.data.table_loading import read_table

    frame = read_table(Path(__file__).parent / "fixtures" / "adult_sample.csv", skipinitialspace=True)
    return frame[ADULT_COLUMNS]


@pytest.fixture(scope="module")
def adult_pipe(adult_frame):
    from hf_latent_diffusion_lm.data.table_schema import TableSchema

    pipe = tiny_pipeline(schema=TableSchema.infer(adult_frame), max_new_tokens=120)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_hard_conditions_hold_in_every_row(adult_pipe):
    output = adult_pipe(num_samples=40, conditions={"sex": "Female", "income": ">50K"}, output_type="pandas",
                        generator=torch.Generator().manual_seed(0))
    assert output.validity == 1.0 and len(output.records) == 40
    assert (output.records["sex"] == "Female").all() and (output.records["income"] == ">50K").all()
    assert output.records["education"].nunique() > 1  # the other columns still vary


def test_complete_fills_missing_cells_and_keeps_given_ones(adult_pipe, adult_frame):
    partial = adult_frame.head(12).copy()
    partial.loc[::2, "education"] = None
    partial.loc[1::2, "age"] = None
    completed = adult_pipe.complete(partial, generator=torch.Generator().manual_seed(0))
    assert list(completed.columns) == ADULT_COLUMNS and len(completed) == 12
    assert not completed.isna().any().any()
    given = partial.notna()
    for column in ADULT_COLUMNS:
        expected = partial.loc[given[column], column].tolist()
        assert completed.loc[given[column], column].tolist() == expected  # 41 == 41.0 for numbers
    assert set(completed["education"]) <= set(adult_frame["education"])


def test_complete_names_unknown_columns(adult_pipe):
    with pytest.raises(ValueError, match="'salary'"):
        adult_pipe.complete(pd.DataFrame({"salary": [1]}))


def test_interpolate_returns_valid_records_from_end_to_end(adult_pipe, adult_frame):
    rows = adult_pipe.schema.records(adult_frame.head(2))
    path = adult_pipe.interpolate(rows[0], rows[1], steps=4, max_new_tokens=120)
    assert len(path) == 4 and all(not adult_pipe.schema.validate(record) for record in path)


def test_per_row_forced_values_hold_row_by_row(adult_pipe):
    from hf_latent_diffusion_lm import Conditions

    rows = [{"sex": "Female"}, {"sex": "Male", "income": ">50K"}, {}, {"education": "Bachelors"}]
    output = adult_pipe(num_samples=4, conditions=Conditions(rows, steer=False), output_type="records",
                        generator=torch.Generator().manual_seed(0))
    assert output.validity == 1.0
    for wanted, record in zip(rows, output.records):
        assert all(record[column] == value for column, value in wanted.items())


def test_soft_conditions_are_not_forced(adult_pipe):
    from hf_latent_diffusion_lm import Conditions

    with pytest.raises(ValueError, match="need constrained decoding"):  # nothing can steer without a trained prior
        adult_pipe(num_samples=2, conditions=Conditions({"sex": "Female"}, force=False))
