"""The one re-draw loop behind the privacy guard and tool-call consistency (issue #22 item 3)."""

import numpy as np
import torch

from hf_latent_diffusion_lm.pipelines.redrawing import redraw_rejected


def test_only_rejected_rows_are_redrawn_and_rows_still_rejected_stay_pending():
    texts, latents = ["ok", "bad", "ok", "bad"], torch.arange(4.0)[:, None]
    drawn = []

    def draw(rows):
        drawn.append(list(rows))
        return ["bad" if row == 3 else "ok" for row in rows], torch.full((len(rows), 1), 10.0)  # row 3 stays bad

    redrawn = redraw_rejected(texts, latents, lambda found: np.array([t == "bad" for t in found]), draw, max_rounds=3)
    assert drawn == [[1, 3], [3], [3]] and redrawn.redraws == 4
    assert redrawn.texts == ["ok", "ok", "ok", "bad"] and list(redrawn.pending) == [3]
    assert redrawn.latents[:, 0].tolist() == [0.0, 10.0, 2.0, 10.0]  # each text keeps the latent it came from
    kept_texts, kept_latents = redrawn.without_pending()
    assert kept_texts == ["ok", "ok", "ok"] and kept_latents[:, 0].tolist() == [0.0, 10.0, 2.0]


def test_nothing_rejected_draws_nothing():
    redrawn = redraw_rejected(["a"], torch.zeros(1, 2), lambda found: np.zeros(len(found), dtype=bool),
                              lambda rows: pytest_fail(), max_rounds=5)
    assert redrawn.redraws == 0 and len(redrawn.pending) == 0 and redrawn.texts == ["a"]


def pytest_fail():
    raise AssertionError("drew although nothing was rejected")
