"""Replay Ray's ASHA scheduler on the per-epoch history of a study in which every trial ran.

The replay feeds the recorded kNN accuracy of each epoch to the real
`ASHAScheduler` that `study.scheduler.build_scheduler` makes. Reports arrive in
the order and at the times they would have under ASHA. Trials start in
creation order, `concurrency` at a time, and each epoch lasts as long as it
took in the recorded run. A trial that ASHA stops frees its slot for the next
one. The same replay over many random trial orders shows how much the
result owes to the order in which the study happened to create its trials.
"""

import heapq
import random
import statistics
import types

from ray.tune.schedulers import TrialScheduler

from study.scheduler import METRIC, TIME_ATTR, build_scheduler

# "Within one point" of the grid's best final accuracy, as a fraction.
TARGET_MARGIN = 0.01


def trial_order(trial_ids):
    """Sort Tune trial ids ("<experiment>_<index>") by the index Tune created them with."""
    return sorted(trial_ids, key=lambda trial_id: int(trial_id.rsplit("_", 1)[-1]))


def epoch_table(history):
    """Return {trial_id: [(knn_accuracy, epoch_seconds) per epoch, in epoch order]}."""
    table = {}
    for trial_id, rows in history.sort_values("epoch").groupby("trial_id"):
        table[trial_id] = list(zip(rows["knn_accuracy"].astype(float), rows["epoch_seconds"].astype(float)))
    return table


def replay(table, concurrency, max_epochs, grace_period, reduction_factor, order=None):
    """Run ASHA over the recorded epochs; return the epochs it spends and what it reaches.

    A study's result is the final epoch of its best trial, so ASHA reaches
    the grid's result when a trial that it lets run to max_epochs ends within
    TARGET_MARGIN of the grid's best final accuracy.

    Returns:
        dict with `epochs_spent` (all epochs ASHA runs), `epochs_to_target`
        (epochs spent when such a trial ends, None if none does),
        `best_final_accuracy` (best final accuracy of the trials ASHA runs to
        max_epochs) and `stopped` (trials ASHA stopped before max_epochs).
        Trials start in `order` (a list of trial ids), creation order when None.
    """
    scheduler = build_scheduler(
        types.SimpleNamespace(
            max_epochs=max_epochs, grace_period=grace_period, reduction_factor=reduction_factor
        )
    )
    order = trial_order(table) if order is None else list(order)
    grid_best = max(epochs[-1][0] for epochs in table.values())
    target = grid_best - TARGET_MARGIN

    pending = list(reversed(order))  # pop() yields creation order
    running = []  # heap of (time the next epoch ends, creation index, trial id, epoch index)
    position = {trial_id: index for index, trial_id in enumerate(order)}

    def start_next(now):
        trial_id = pending.pop()
        trial = types.SimpleNamespace(trial_id=trial_id)
        scheduler.on_trial_add(None, trial)
        heapq.heappush(running, (now + table[trial_id][0][1], position[trial_id], trial_id, 0))

    for _ in range(min(concurrency, len(pending))):
        start_next(0.0)

    epochs_spent, epochs_to_target, best_final, stopped = 0, None, float("-inf"), 0
    while running:
        now, index, trial_id, epoch_index = heapq.heappop(running)
        accuracy = table[trial_id][epoch_index][0]
        epochs_spent += 1

        trial = types.SimpleNamespace(trial_id=trial_id)
        result = {TIME_ATTR: epoch_index + 1, METRIC: accuracy}
        decision = scheduler.on_trial_result(None, trial, result)
        last_epoch = epoch_index + 1 >= min(max_epochs, len(table[trial_id]))
        if last_epoch:
            best_final = max(best_final, accuracy)
            if epochs_to_target is None and accuracy >= target:
                epochs_to_target = epochs_spent
        if decision == TrialScheduler.STOP or last_epoch:
            stopped += int(not last_epoch)
            scheduler.on_trial_remove(None, trial)
            if pending:
                start_next(now)
            continue
        next_end = now + table[trial_id][epoch_index + 1][1]
        heapq.heappush(running, (next_end, index, trial_id, epoch_index + 1))

    return {
        "epochs_spent": epochs_spent,
        "epochs_to_target": epochs_to_target,
        "best_final_accuracy": best_final,
        "stopped": stopped,
    }


def asha_savings(history, concurrency, max_epochs, grace_period, reduction_factor, goal, num_orders=1000):
    """Return ASHA's epochs to reach within one point of the grid's best, over the grid's epochs.

    The ratio is for the trials in the order the study created them.
    `random_orders` contains the ratio's median, 10th and 90th percentiles over
    `num_orders` random orders, and the share of those orders that meet `goal`.
    """
    table = epoch_table(history)
    grid_epochs = sum(len(epochs) for epochs in table.values())
    grid_best = max(epochs[-1][0] for epochs in table.values())
    schedule = (concurrency, max_epochs, grace_period, reduction_factor)
    asha = replay(table, *schedule)
    reached = asha["epochs_to_target"] is not None
    epochs_to_target = asha["epochs_to_target"] if reached else asha["epochs_spent"]
    shuffled = _random_order_ratios(table, schedule, grid_epochs, num_orders)
    return {
        "trials": len(table),
        "grid_epochs": grid_epochs,
        "grid_best_accuracy": grid_best,
        "target_accuracy": grid_best - TARGET_MARGIN,
        "asha_epochs_spent": asha["epochs_spent"],
        "asha_epochs_to_target": epochs_to_target,
        "asha_best_final_accuracy": asha["best_final_accuracy"],
        "asha_stopped_trials": asha["stopped"],
        "target_reached": reached,
        "grace_period": grace_period,
        "reduction_factor": reduction_factor,
        "ratio": epochs_to_target / grid_epochs,
        "random_orders": {
            "orders": num_orders,
            "median": statistics.median(shuffled),
            "p10": shuffled[num_orders // 10],
            "p90": shuffled[num_orders * 9 // 10],
            "share_met": sum(ratio <= goal for ratio in shuffled) / num_orders,
        },
    }


def _random_order_ratios(table, schedule, grid_epochs, num_orders, seed=0):
    """Return the sorted ratios of `num_orders` replays, each with the trials in a random order."""
    generator = random.Random(seed)
    ratios = []
    for _ in range(num_orders):
        order = generator.sample(sorted(table), len(table))
        asha = replay(table, *schedule, order=order)
        ratios.append((asha["epochs_to_target"] or asha["epochs_spent"]) / grid_epochs)
    return sorted(ratios)
