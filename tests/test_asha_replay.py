"""The benchmark's ASHA replay: Ray's real scheduler fed recorded epochs in a chosen trial order."""

import pandas as pd

from benchmarks.asha_replay import asha_savings, replay

# Three trials of 3 epochs, 1 s each. With grace period 1 and reduction factor
# 3 the only rung is epoch 1, where a trial continues when its accuracy is at
# least the 66.7th percentile of the accuracies recorded there.
TABLE = {
    "study_00000": [(0.90, 1.0), (0.90, 1.0), (0.95, 1.0)],
    "study_00001": [(0.50, 1.0), (0.50, 1.0), (0.50, 1.0)],
    "study_00002": [(0.60, 1.0), (0.60, 1.0), (0.60, 1.0)],
}
SCHEDULE = {"concurrency": 1, "max_epochs": 3, "grace_period": 1, "reduction_factor": 3}


def test_replay_best_first_stops_others():
    result = replay(TABLE, **SCHEDULE)  # creation order: 00000, 00001, 00002
    # 00000 runs to the end and reaches 0.95 after 3 epochs. 00001 stops
    # after epoch 1 (0.5 < 0.767, the 66.7th percentile of {0.9, 0.5}), and
    # so does 00002 (0.6 < 0.7, the 66.7th percentile of {0.9, 0.5, 0.6}).
    assert result == {"epochs_spent": 5, "epochs_to_target": 3, "best_final_accuracy": 0.95, "stopped": 2}


def test_replay_best_last_runs_grid():
    order = ["study_00001", "study_00002", "study_00000"]
    result = replay(TABLE, **SCHEDULE, order=order)
    # 0.6 is above the 66.7th percentile of {0.5, 0.6} (0.567), and 0.9 above every cutoff.
    assert result == {"epochs_spent": 9, "epochs_to_target": 9, "best_final_accuracy": 0.95, "stopped": 0}


def test_savings_spread_over_random_orders():
    history = pd.DataFrame(
        [{"trial_id": trial_id, "epoch": epoch + 1, "knn_accuracy": accuracy, "epoch_seconds": seconds}
         for trial_id, epochs in TABLE.items() for epoch, (accuracy, seconds) in enumerate(epochs)]
    )
    savings = asha_savings(history, SCHEDULE["concurrency"], 3, 1, 3, goal=0.35, num_orders=200)
    assert savings["grid_epochs"] == 9
    assert savings["ratio"] == 3 / 9
    spread = savings["random_orders"]
    # Orders that start with the best trial reach it after 3 epochs; others need more.
    assert spread["p10"] == 3 / 9
    assert spread["p10"] <= spread["median"] <= spread["p90"] <= 1.0
    assert 0.2 < spread["share_met"] < 0.5  # 2 of 6 orders start with the best trial
