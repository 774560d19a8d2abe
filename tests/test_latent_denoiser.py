"""The MLP denoiser learns a latent distribution and samples it back through diffusers' EDM schedulers."""

from __future__ import annotations

import pytest
import torch
from diffusers import EDMDPMSolverMultistepScheduler, EDMEulerScheduler

from hf_latent_diffusion_lm import LatentDenoiserMLP

MEANS = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]])
STDS = torch.tensor([0.3, 0.5, 0.4])
WEIGHTS = torch.tensor([0.5, 0.3, 0.2])


def mixture(count: int, generator: torch.Generator) -> torch.Tensor:
    component = torch.multinomial(WEIGHTS, count, replacement=True, generator=generator)
    return MEANS[component] + STDS[component, None] * torch.randn(count, 2, generator=generator)


@pytest.fixture(scope="module")
def trained_denoiser():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    data = mixture(4096, generator)
    denoiser = LatentDenoiserMLP(latent_dim=2, hidden_dim=128, num_layers=3, noise_embedding_dim=32)
    denoiser.set_latent_statistics(data.mean(0), data.std(0))
    latents = denoiser.normalize(data)
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=2e-3)
    for _ in range(800):
        batch = latents[torch.randint(0, len(latents), (512,), generator=generator)]
        loss = denoiser.edm_loss(batch, generator=generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return denoiser.eval()


def sample(denoiser, scheduler, steps, count=4000, seed=1):
    generator = torch.Generator().manual_seed(seed)
    scheduler.set_timesteps(steps)
    latents = torch.randn(count, 2, generator=generator) * scheduler.init_noise_sigma
    with torch.no_grad():
        for t in scheduler.timesteps:
            output = denoiser(scheduler.scale_model_input(latents, t), t).sample
            latents = scheduler.step(output, t, latents).prev_sample
    return denoiser.denormalize(latents)


@pytest.mark.parametrize(
    "scheduler, steps", [(EDMEulerScheduler(), 30), (EDMDPMSolverMultistepScheduler(), 15)], ids=["euler", "dpm"]
)
def test_samples_match_the_mixture(trained_denoiser, scheduler, steps):
    samples = sample(trained_denoiser, scheduler, steps)
    component = torch.cdist(samples, MEANS).argmin(1)
    for index in range(len(MEANS)):
        members = samples[component == index]
        assert abs(len(members) / len(samples) - WEIGHTS[index]) < 0.04, "mixture weight"
        assert torch.allclose(members.mean(0), MEANS[index], atol=0.25), "component mean"
        assert torch.allclose(members.std(0), STDS[index].expand(2), atol=0.15), "component spread"


def test_untrained_denoiser_does_not_match(trained_denoiser):
    """The check above can fail: an untrained network with the same statistics misses the components."""
    untrained = LatentDenoiserMLP(latent_dim=2, hidden_dim=128, num_layers=3, noise_embedding_dim=32)
    untrained.set_latent_statistics(trained_denoiser.latent_mean, trained_denoiser.latent_std)
    samples = sample(untrained.eval(), EDMEulerScheduler(), 30)
    component = torch.cdist(samples, MEANS).argmin(1)
    errors = [(samples[component == i].std(0) - STDS[i]).abs().max() for i in range(3) if (component == i).any()]
    assert max(errors) > 0.15


def test_round_trip_keeps_weights_and_latent_statistics(tmp_path, trained_denoiser):
    trained_denoiser.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").exists()
    loaded = LatentDenoiserMLP.from_pretrained(tmp_path)
    public = lambda config: {k: v for k, v in config.items() if not k.startswith("_")}  # noqa: E731
    assert public(loaded.config) == public(trained_denoiser.config)
    assert torch.equal(loaded.latent_mean, trained_denoiser.latent_mean)
    assert torch.equal(loaded.latent_std, trained_denoiser.latent_std)
    x, t = torch.randn(5, 2), torch.full((5,), 0.1)
    with torch.no_grad():
        assert torch.equal(loaded(x, t).sample, trained_denoiser(x, t).sample)


def test_conditions_change_the_output_and_are_checked():
    denoiser = LatentDenoiserMLP(latent_dim=4, hidden_dim=16, num_layers=1, condition_num_classes=[2, 3])
    x = torch.randn(3, 4)
    with torch.no_grad():
        conditional = denoiser(x, 0.0, condition=torch.tensor([[0, 1]] * 3)).sample
        unconditional = denoiser(x, 0.0).sample
    assert not torch.allclose(conditional, unconditional)
    assert torch.equal(denoiser.null_condition(3), torch.tensor([[2, 3]] * 3))
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        denoiser(x, 0.0, condition=torch.tensor([[0]] * 3))
    with pytest.raises(ValueError, match=r"\(batch, 4\)"):
        denoiser(torch.randn(3, 5), 0.0)


def test_the_weight_average_is_what_is_evaluated_and_the_raw_weights_come_back():
    from hf_latent_diffusion_lm.training.diffusion_training import WeightAverage

    torch.manual_seed(0)
    model = LatentDenoiserMLP(latent_dim=4, hidden_dim=8, num_layers=1)
    average = WeightAverage(model, decay=0.9)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(5):
        model.edm_loss(torch.randn(16, 4)).backward()
        optimizer.step()
        optimizer.zero_grad()
        average.step()
    raw = [p.detach().clone() for p in model.parameters()]
    with average.averaged():
        inside = [p.detach().clone() for p in model.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(raw, inside)), "the average differs from the last weights"
    assert all(torch.equal(a, p) for a, p in zip(raw, model.parameters())), "raw weights restored after"
    restored = WeightAverage(model, decay=0.9)
    restored.load(average.tensors(), average.state())
    with restored.averaged():
        assert all(torch.equal(a, p) for a, p in zip(inside, model.parameters()))
    assert WeightAverage(model, decay=0).tensors() is None  # 0: no average, the raw weights are kept


def test_weights_stored_in_bfloat16_load_back_as_the_model_that_sampled(tmp_path):
    denoiser = LatentDenoiserMLP(latent_dim=4, hidden_dim=64, num_layers=2)
    statistics = torch.tensor([0.123456789, -3.3, 7.1, 1e-3]), torch.tensor([1.000001, 0.5, 2.0, 3.0])
    denoiser.set_latent_statistics(*statistics)
    denoiser.save_pretrained(tmp_path / "float32")
    denoiser.store_weights_in("bfloat16")
    assert all(p.dtype == torch.float32 and torch.equal(p, p.bfloat16().float()) for p in denoiser.parameters())
    denoiser.save_pretrained(tmp_path / "bfloat16")
    size = lambda folder: (folder / "diffusion_pytorch_model.safetensors").stat().st_size  # noqa: E731
    assert size(tmp_path / "bfloat16") < 0.55 * size(tmp_path / "float32")
    loaded = LatentDenoiserMLP.from_pretrained(tmp_path / "bfloat16")
    assert loaded.config.storage_dtype == "bfloat16"
    for name, tensor in loaded.state_dict().items():  # float32 again, equal to the rounded model in memory
        assert tensor.dtype == torch.float32 and torch.equal(tensor, denoiser.state_dict()[name]), name
    assert torch.equal(loaded.latent_mean, statistics[0]) and torch.equal(loaded.latent_std, statistics[1])
    x, sigma = torch.randn(3, 4), torch.full((3,), 0.7)
    assert torch.equal(loaded(x, sigma).sample, denoiser(x, sigma).sample)
