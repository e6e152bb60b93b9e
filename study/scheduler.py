"""ASHA scheduling of a study (Li et al. 2020, "A System for Massively Parallel
Hyperparameter Tuning").

Rungs sit at grace_period * reduction_factor^k epochs. A trial that reaches a
rung continues only if its kNN accuracy is in the top 1/reduction_factor of the
trials recorded at that rung so far; the others stop with status `stopped`.
"""

from ray.tune.schedulers import ASHAScheduler

METRIC = "knn_accuracy"
MODE = "max"
# Reported by the trainable itself, so a trial restored from a checkpoint
# stays on the same rungs.
TIME_ATTR = "epoch"


def build_scheduler(config):
    """Return the ASHA scheduler for a validated study config."""
    return ASHAScheduler(
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
