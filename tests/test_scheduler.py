"""ASHA decisions as a table: given these reports, this trial continues or stops here."""

import json
import types

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from study.config import validate
from study.scheduler import build_scheduler, rungs

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def _config(**overrides):
    raw = {"name": "asha", "storage_path": "/tmp/simclr-study-unused", "max_epochs": 9,
           "grace_period": 1, "reduction_factor": 3}
    raw.update(overrides)
    return validate(raw)


def _report(scheduler, trial, epoch, accuracy):
    return scheduler.on_trial_result(None, trial, {"epoch": epoch, "knn_accuracy": accuracy})


def test_rungs_follow_grace_period_and_reduction_factor():
    assert rungs(_config()) == [1, 3]
    assert rungs(_config(max_epochs=27, grace_period=3)) == [3, 9]


def test_decision_table_at_first_rung():
    scheduler = build_scheduler(_config())
    trials = [Trial("train_simclr", stub=True, trial_id=f"t{i}") for i in range(4)]
    for trial in trials:
        scheduler.on_trial_add(None, trial)
    # The first trial at a rung has nothing to compare with and continues.
    assert _report(scheduler, trials[0], 1, 0.50) == CONTINUE
    # Top third of {0.50, 0.40}: 0.40 is below the cutoff and stops.
    assert _report(scheduler, trials[1], 1, 0.40) == STOP
    # A new best continues.
    assert _report(scheduler, trials[2], 1, 0.70) == CONTINUE
    # The cutoff is the 66.7th percentile of {0.4, 0.5, 0.7}, linearly
    # interpolated: 0.5 + (2/3 * 2 - 1) * 0.2 = 0.5667.
    assert _report(scheduler, trials[3], 1, 0.55) == STOP


def test_epochs_between_rungs_continue():
    scheduler = build_scheduler(_config())
    trial = Trial("train_simclr", stub=True, trial_id="only")
    scheduler.on_trial_add(None, trial)
    assert _report(scheduler, trial, 1, 0.5) == CONTINUE
    assert _report(scheduler, trial, 2, 0.1) == CONTINUE


def test_last_epoch_stops():
    scheduler = build_scheduler(_config(max_epochs=3, grace_period=3))
    trial = Trial("train_simclr", stub=True, trial_id="last")
    scheduler.on_trial_add(None, trial)
    assert _report(scheduler, trial, 3, 0.9) == STOP


def test_nan_metric_would_pass_a_rung():
    # ASHA compares with `<`, so a NaN is never below the cutoff: this is why a
    # diverged trial reports its last finite kNN accuracy instead.
    scheduler = build_scheduler(_config())
    trials = [Trial("train_simclr", stub=True, trial_id=f"n{i}") for i in range(2)]
    for trial in trials:
        scheduler.on_trial_add(None, trial)
    assert _report(scheduler, trials[0], 1, 0.5) == CONTINUE
    assert _report(scheduler, trials[1], 1, float("nan")) == CONTINUE


def test_resumed_scheduler_keeps_earlier_rungs(tmp_path):
    # A study whose driver stopped after four trials reported at the epoch-1 rung.
    reports = [("t0", 1, 0.50), ("t1", 1, 0.40), ("t2", 1, 0.70), ("t3", 1, 0.60)]
    (tmp_path / "trial_reports.jsonl").write_text(
        "\n".join(json.dumps({"trial_id": t, "epoch": e, "knn_accuracy": a}) for t, e, a in reports)
        + '\n{"trial_id": "t4", "epo'  # the last line, cut short by the killed driver
    )
    trial = types.SimpleNamespace(trial_id="t5", remote_experiment_path=str(tmp_path))
    resumed = build_scheduler(_config())
    resumed.on_trial_add(None, trial)
    # The cutoff is the 66.7th percentile of {0.4, 0.5, 0.6, 0.7}: 0.6. A fresh
    # scheduler would let the first trial pass whatever it reports.
    assert _report(resumed, trial, 1, 0.55) == STOP

    fresh = build_scheduler(_config())
    other = types.SimpleNamespace(trial_id="t5", remote_experiment_path=str(tmp_path / "elsewhere"))
    fresh.on_trial_add(None, other)
    assert _report(fresh, other, 1, 0.55) == CONTINUE


def test_replayed_trial_is_not_judged_again(tmp_path):
    (tmp_path / "trial_reports.jsonl").write_text(
        "\n".join(json.dumps({"trial_id": t, "epoch": 1, "knn_accuracy": a})
                  for t, a in [("t0", 0.5), ("t1", 0.9), ("t2", 0.8), ("t3", 0.95)])
    )
    resumed_trial = types.SimpleNamespace(trial_id="t1", remote_experiment_path=str(tmp_path))
    new_trial = types.SimpleNamespace(trial_id="t4", remote_experiment_path=str(tmp_path))
    scheduler = build_scheduler(_config())
    scheduler.on_trial_add(None, resumed_trial)
    scheduler.on_trial_add(None, new_trial)
    # t1 passed the epoch-1 rung before the driver stopped, so its epoch 2 goes on.
    assert _report(scheduler, resumed_trial, 2, 0.3) == CONTINUE
    # A trial that skips past the rung is judged there against the replayed values.
    assert _report(scheduler, new_trial, 2, 0.3) == STOP
