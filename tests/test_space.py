"""Search space: which trials a study creates, and in which order they start."""

import time

import pytest
import ray
from ray import tune

from study.config import read_preset, validate
from study.runner import tune_config
from study.space import build_param_space, grid_points


def _quick(tmp_path, **changes):
    raw = read_preset("quick")
    raw.update({"name": "space", "storage_path": str(tmp_path), **changes})
    return validate(raw)


def test_grid_points_deepest_first_per_round(tmp_path):
    points = grid_points(_quick(tmp_path))  # depth {18, 34} x temperature {0.1, 0.5}, 2 samples
    pairs = [(point["depth"], point["temperature"]) for point in points]
    one_sample = [(34, 0.1), (18, 0.1), (34, 0.5), (18, 0.5)]
    assert pairs == one_sample * 2


def test_rounds_sort_depth_and_width_by_cost(tmp_path):
    space = {"depth": {"grid": [18, 50]}, "width": {"grid": [0.5, 2.0]},
             "temperature": {"grid": [0.2, 0.1]}}
    points = grid_points(_quick(tmp_path, num_samples=1, space=space))
    # Cost = multiply-adds of the depth x width squared: 50 at 2.0, 18 at 2.0, 50 at 0.5, 18 at 0.5.
    by_cost = [(50, 2.0), (18, 2.0), (50, 0.5), (18, 0.5)]
    expected = [(*pair, temperature) for temperature in (0.2, 0.1) for pair in by_cost]
    assert [(p["depth"], p["width"], p["temperature"]) for p in points] == expected

    # A fixed wider setting changes no order: it scales every cost alike.
    space = {"temperature": {"grid": [0.5, 0.1, 0.2]}, "depth": {"grid": [18, 101, 34]}, "width": 2.0}
    points = grid_points(_quick(tmp_path, num_samples=1, space=space))
    assert [(p["temperature"], p["depth"]) for p in points] == [
        (t, d) for t in (0.5, 0.1, 0.2) for d in (101, 34, 18)]


def test_no_grid_gives_no_points(tmp_path):
    space = {"depth": {"choice": [18, 34]}, "learning_rate": {"loguniform": [0.05, 0.5]}}
    assert grid_points(_quick(tmp_path, space=space)) == []


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=1, include_dashboard=False)
    yield
    ray.shutdown()


def _started_trials(config):
    # Defined here so that Ray ships the function itself: workers cannot import the tests.
    def record_start(trial_config):
        keys = ("depth", "batch_size", "temperature", "learning_rate")
        tune.report({"started": time.time(), "epoch": 1, "knn_accuracy": 0.5,
                     **{key: trial_config[key] for key in keys}})

    tuner = tune.Tuner(
        tune.with_resources(record_start, {"cpu": 1}),
        param_space=build_param_space(config),
        tune_config=tune_config(config),
        run_config=tune.RunConfig(name=config.name, storage_path=str(config.study_dir.parent), verbose=0),
    )
    results = tuner.fit()
    assert not results.errors
    return sorted((result.metrics for result in results), key=lambda metrics: metrics["started"])


@pytest.mark.usefixtures("local_ray")
def test_tune_follows_grid_point_order(tmp_path):
    config = _quick(tmp_path, max_concurrent_trials=1, max_epochs=1, grace_period=1)
    started = _started_trials(config)
    assert [(t["depth"], t["temperature"]) for t in started] == [(p["depth"], p["temperature"])
                                                                 for p in grid_points(config)]
    assert [t["depth"] for t in started] == [34, 18] * 4
    rates = [trial["learning_rate"] for trial in started]
    assert all(0.05 <= rate <= 0.5 for rate in rates)
    assert len(set(rates)) == 8
    assert {trial["batch_size"] for trial in started} <= {64, 128}

    # The same seed draws the same values again.
    again = _started_trials(_quick(tmp_path, name="space-again", max_concurrent_trials=1,
                                   max_epochs=1, grace_period=1))
    assert [trial["learning_rate"] for trial in again] == rates


@pytest.mark.usefixtures("local_ray")
def test_no_grid_draws_num_samples_trials(tmp_path):
    space = {"depth": {"choice": [18, 34]}, "temperature": 0.2, "batch_size": 64,
             "learning_rate": {"uniform": [0.1, 0.2]}}
    config = _quick(tmp_path, num_samples=3, max_epochs=1, grace_period=1, space=space)
    started = _started_trials(config)
    assert len(started) == 3
    assert all(0.1 <= trial["learning_rate"] <= 0.2 for trial in started)
