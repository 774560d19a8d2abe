"""DiffLM's decreasing-β rule for the VAE's KL weight.

Training starts with a strong KL regularisation (``max_beta``), which shapes a smooth latent space the diffusion
prior can learn; whenever validation reconstruction stops improving for ``patience`` evaluations, β is multiplied
by ``factor`` (toward ``min_beta``) and training backtracks to the best checkpoint; at ``min_beta`` with no further
improvement, training stops early. When field accuracy is measured, "better" means higher field accuracy first
(the number users see) and lower reconstruction NLL as the tie-break.
"""

from __future__ import annotations

import math

from enum import Enum


class BetaDecision(str, Enum):
    """What the trainer must do after an evaluation."""

    IMPROVED = "improved"  # save this as the best checkpoint
    WAIT = "wait"  # keep training at this beta
    DECREASE = "decrease"  # beta went down: restore the best checkpoint and go on
    STOP = "stop"  # beta is at its floor and nothing improves: stop early


class DecreasingBetaSchedule:
    """State machine for β; ``state_dict`` / ``load_state_dict`` (plain JSON values) let training resume it."""

    def __init__(self, max_beta: float = 0.1, min_beta: float = 0.001, factor: float = 0.7, patience: int = 3,
                 min_delta: float = 0.0):
        if not 0 < min_beta <= max_beta:
            raise ValueError(f"Need 0 < min_beta <= max_beta, got min_beta={min_beta}, max_beta={max_beta}.")
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}.")
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}.")
        self.min_beta, self.factor, self.patience, self.min_delta = min_beta, factor, patience, min_delta
        self.beta = max_beta
        self.best = float("inf")
        self.best_field_accuracy = 0.0
        self.evaluations_without_improvement = 0

    def step(self, validation_reconstruction: float, field_accuracy: float | None = None) -> BetaDecision:
        """Record one validation reconstruction loss (and field accuracy, when measured) and decide."""
        accuracy = 0.0 if field_accuracy is None else field_accuracy
        lower_loss = validation_reconstruction < self.best - self.min_delta
        if accuracy > self.best_field_accuracy or (accuracy == self.best_field_accuracy and lower_loss):
            self.best, self.best_field_accuracy = validation_reconstruction, accuracy
            self.evaluations_without_improvement = 0
            return BetaDecision.IMPROVED
        self.evaluations_without_improvement += 1
        if self.evaluations_without_improvement < self.patience:
            return BetaDecision.WAIT
        self.evaluations_without_improvement = 0
        if self.beta <= self.min_beta:
            return BetaDecision.STOP
        self.beta = max(self.min_beta, self.beta * self.factor)
        return BetaDecision.DECREASE

    def state_dict(self) -> dict:
        return {"beta": self.beta, "best": None if math.isinf(self.best) else self.best,  # JSON has no infinity
                "best_field_accuracy": self.best_field_accuracy,
                "evaluations_without_improvement": self.evaluations_without_improvement}

    def load_state_dict(self, state: dict) -> None:
        self.beta = state["beta"]
        self.best = math.inf if state["best"] is None else state["best"]
        self.best_field_accuracy = state.get("best_field_accuracy", 0.0)  # absent in checkpoints of older versions
        self.evaluations_without_improvement = state["evaluations_without_improvement"]
