"""ASHA scheduling of a study (Li et al. 2020, "A System for Massively Parallel
Hyperparameter Tuning").

Rungs sit at grace_period * reduction_factor^k epochs. A trial that reaches a
rung continues only if its kNN accuracy is in the top 1/reduction_factor of the
trials recorded at that rung so far; the others stop with status `stopped`.
"""

import logging
import math
import types
from pathlib import Path

from ray.tune.schedulers import ASHAScheduler

from study.results import REPORTS_FILE, iter_reports

logger = logging.getLogger(__name__)

METRIC = "knn_accuracy"
MODE = "max"
# Reported by the trainable itself, so a trial restored from a checkpoint
# stays on the same rungs.
TIME_ATTR = "epoch"


class StudyASHA(ASHAScheduler):
    """ASHA that, in a resumed study, first records the rung results of the runs before.

    Tune restores a study with the scheduler as it was created, with empty
    rungs, so trials that reach a rung after a resume would be compared only
    with each other. On its first trial this scheduler replays every earlier
    report in the study's trial_reports.jsonl, in the order they arrived, so
    its rungs hold what they held when the driver stopped.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._replayed = False

    def on_trial_add(self, tune_controller, trial):
        super().on_trial_add(tune_controller, trial)
        if not self._replayed:
            self._replayed = True
            try:
                study_dir = trial.remote_experiment_path
            except AttributeError:
                return  # a trial outside a Tune run has no study folder
            self._replay(Path(study_dir) / REPORTS_FILE)

    def _replay(self, reports_file):
        bracket = self._brackets[0]  # ASHAScheduler builds a single bracket by default
        count = 0
        for report in iter_reports(reports_file):
            try:
                epoch, accuracy = report[TIME_ATTR], float(report[METRIC])
            except (KeyError, TypeError, ValueError):
                continue  # a report without the metric, such as a failed trial's
            if math.isfinite(accuracy):
                trial = types.SimpleNamespace(trial_id=report["trial_id"])
                bracket.on_result(trial, epoch, self._metric_op * accuracy)
                count += 1
        logger.info("ASHA rungs restored from %d earlier reports in %s", count, reports_file)


def build_scheduler(config):
    """Return the ASHA scheduler for a validated study config."""
    return StudyASHA(
        time_attr=TIME_ATTR,
        metric=METRIC,
        mode=MODE,
        max_t=config.max_epochs,
        grace_period=config.grace_period,
        reduction_factor=config.reduction_factor,
    )


def rungs(config):
    """Epochs at which ASHA compares trials, below max_epochs."""
    epochs, epoch = [], config.grace_period
    while epoch < config.max_epochs:
        epochs.append(int(epoch))
        epoch *= config.reduction_factor
    return epochs
