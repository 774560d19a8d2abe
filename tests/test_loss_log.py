"""The loss log keeps one row per step when a run resumes from a checkpoint older than its last logged step."""

from __future__ import annotations

import pandas as pd

from hf_latent_diffusion_lm.training.loss_log import open_loss_log


def test_resuming_drops_the_rows_the_resumed_run_trains_again(tmp_path):
    path = tmp_path / "vae_log.csv"
    log, writer = open_loss_log(path, ["step", "loss"])
    writer.writerows([[step, 1.0 / step] for step in range(1, 15)])  # killed at step 14, checkpoint at step 10
    log.close()
    log, writer = open_loss_log(path, ["step", "loss"], resumed_step=10)
    writer.writerows([[step, 0.5] for step in range(11, 21)])
    log.close()
    frame = pd.read_csv(path)
    assert frame["step"].tolist() == list(range(1, 21))
    assert frame.loc[frame["step"] == 5, "loss"].item() == 0.2 and (frame.loc[frame["step"] > 10, "loss"] == 0.5).all()


def test_a_fresh_run_starts_a_new_log(tmp_path):
    path = tmp_path / "vae_log.csv"
    path.write_text("step,loss\n1,9\n")
    log, writer = open_loss_log(path, ["step", "loss"])
    writer.writerow([1, 2])
    log.close()
    assert pd.read_csv(path)["loss"].tolist() == [2]
