"""Shared fixtures: tiny models, and a tiny decoder briefly pre-trained on short records (so it can be steered)."""

from __future__ import annotations

import os
import random

import pytest
import torch

from hf_latent_diffusion_lm.data.record_tokenization import collate_records, tokenize_records
from hf_latent_diffusion_lm.privacy.privacy_keys import KEY_FOLDER_VARIABLE
from hf_latent_diffusion_lm.testing import tiny_decoder, tiny_tokenizer

NAMES = ["ana", "bo", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo", "kai", "lu"]
CITIES = ["oslo", "rome", "lima", "kyiv"]


def make_records(count: int, seed: int = 0) -> list[str]:
    """Short, varied serialized records: the latent must carry which name/age/city a row has."""
    rng = random.Random(seed)
    return [
        f"{{name: {rng.choice(NAMES)}, age: {rng.randint(18, 89)}, city: {rng.choice(CITIES)}}}"
        for _ in range(count)
    ]


def fit_shop_model(folder):
    """A tiny table model (sizes and stock counts) fitted with ``ldlm fit`` into ``folder/model``."""
    import pandas as pd

    from hf_latent_diffusion_lm.cli import main as ldlm

    rng = torch.Generator().manual_seed(0)
    sizes = ["S", "M", "L", "XL"]
    pd.DataFrame({
        "size": [sizes[i] for i in torch.randint(0, 4, (40,), generator=rng)],
        "stock": torch.randint(0, 500, (40,), generator=rng).tolist(),
    }).to_csv(folder / "shop.csv", index=False)
    assert ldlm(["fit", str(folder / "shop.csv"), "--out", str(folder / "model"), "--preset", "tiny",
                 "--max-steps", "2", "--diffusion-max-steps", "5", "--batch-size", "16"]) == 0
    return folder / "model"


def record_batch(texts, tokenizer):
    features = tokenize_records(texts, tokenizer)
    return collate_records([dict(zip(features, values)) for values in zip(*features.values())], tokenizer)


@pytest.fixture(scope="session", autouse=True)
def privacy_key_folder(tmp_path_factory):
    """Privacy keys that pipelines fitted by the tests create go to a temporary folder, not the user's home (set in
    the environment, so CLI subprocesses see it too)."""
    folder = tmp_path_factory.mktemp("privacy-keys")
    previous = os.environ.get(KEY_FOLDER_VARIABLE)
    os.environ[KEY_FOLDER_VARIABLE] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop(KEY_FOLDER_VARIABLE, None)
    else:
        os.environ[KEY_FOLDER_VARIABLE] = previous


@pytest.fixture(scope="session")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="session")
def training_records():
    return make_records(48, seed=1)


@pytest.fixture(scope="session")
def pretrained_decoder(tokenizer, training_records):
    """A tiny Llama trained as a plain LM on the records' distribution (then frozen by the tests that use it)."""
    torch.manual_seed(0)
    decoder = tiny_decoder(seed=0).train()
    batch = record_batch(make_records(256, seed=2), tokenizer)
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=3e-3)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    for _ in range(60):
        loss = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return decoder.eval()


# CI replays a fixed sequence of hypothesis examples (a red CI must be reproducible); on a developer's machine the
# examples vary from run to run, which is how new edge cases are found.
if os.environ.get("CI"):
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True)
    settings.load_profile("ci")
