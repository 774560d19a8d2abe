"""The decreasing-β rule on scripted validation curves."""

import pytest

from hf_latent_diffusion_lm.training import BetaDecision, DecreasingBetaSchedule

I, W, D, S = BetaDecision.IMPROVED, BetaDecision.WAIT, BetaDecision.DECREASE, BetaDecision.STOP


def run(schedule, curve):
    decisions, betas = [], []
    for value in curve:
        decisions.append(schedule.step(value))
        betas.append(schedule.beta)
    return decisions, betas


def test_beta_decreases_after_patience_then_stops_at_the_floor():
    schedule = DecreasingBetaSchedule(max_beta=0.1, min_beta=0.025, factor=0.5, patience=2)
    curve = [5.0, 4.0, 4.1, 4.2, 3.5, 3.6, 3.6, 3.6, 3.6]
    decisions, betas = run(schedule, curve)
    assert decisions == [I, I, W, D, I, W, D, W, S]
    assert betas == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025])
    assert schedule.best == 3.5


def test_state_round_trip_resumes_the_same_decisions():
    curve = [5.0, 4.0, 4.1, 4.2, 3.9, 4.0, 4.0, 4.0]
    uninterrupted = run(DecreasingBetaSchedule(patience=2), curve)
    first = DecreasingBetaSchedule(patience=2)
    head = run(first, curve[:3])
    second = DecreasingBetaSchedule(patience=2)
    second.load_state_dict(first.state_dict())
    tail = run(second, curve[3:])
    assert (head[0] + tail[0], head[1] + tail[1]) == uninterrupted


@pytest.mark.parametrize("options", [{"min_beta": 0.2, "max_beta": 0.1}, {"factor": 1.5}, {"patience": 0}])
def test_bad_settings_are_refused(options):
    with pytest.raises(ValueError):
        DecreasingBetaSchedule(**options)
