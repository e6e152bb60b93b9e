"""Run a study on Ray Tune: embedded local Ray by default, or an existing cluster.

The data set is loaded once in the driver and handed to every trial through
Ray's object store (`tune.with_parameters`), so each node keeps one copy that
all its trials share, and a missing or corrupt data set fails before any trial
starts.
"""

import logging
import os

import ray
import yaml
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

from study.config import CONFIG_FILE
from study.callbacks import ResultsCallback
from study.scheduler import build_scheduler
from study.space import build_param_space, grid_points

CHECKPOINTS_KEPT = 2
# Tune saves its experiment state (trial statuses, latest checkpoints) every
# 10 s or less often by default (Ray 2.60). A trial that ends after the last
# save before the driver is killed counts as unfinished on resume and runs
# again from its latest recorded checkpoint, so a short period narrows that
# window. Each save writes a small JSON file and copies Tune's per-trial logs
# into the study folder.
EXPERIMENT_SNAPSHOT_SECONDS = "2"


def load_data(config):
    """Load the study's data set in the driver; raises DataError (a ValueError) on bad data."""
    from trainables.data import load_dataset

    return load_dataset(
        config.dataset,
        data_dir=config.data_dir,
        image_size=config.image_size,
        seed=config.seed,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
    )


def start_study(config, data):
    """Create the study folder, run every trial and write the Parquet files.

    Returns the number of trials in the study.
    """
    study_dir = config.study_dir
    study_dir.mkdir(parents=True, exist_ok=False)
    _write_config(study_dir, config)
    tuner = _new_tuner(config, data)
    return _fit(tuner, config)


def resume_study(config, data):
    """Continue a study whose driver stopped; return the number of trials in the study.

    Trials that ended (completed, stopped, diverged) keep their results and do
    not run again, except one that ended within EXPERIMENT_SNAPSHOT_SECONDS
    before the driver stopped, which continues from its latest recorded
    checkpoint. Unfinished trials continue from their latest checkpoint, and
    failed trials run again from theirs with a fresh failure budget. A study
    whose driver stopped before Tune saved any experiment state starts over in
    the same folder.
    """
    if not has_tune_state(config.study_dir):
        return _fit(_new_tuner(config, data), config)
    _init_ray(config)
    tuner = tune.Tuner.restore(
        str(config.study_dir),
        trainable=_trainable(config, data),
        resume_unfinished=True,
        resume_errored=True,
    )
    return _fit(tuner, config)


def has_tune_state(study_dir):
    """Return whether Tune saved enough in `study_dir` to restore the study."""
    return tune.Tuner.can_restore(str(study_dir)) and any(study_dir.glob("experiment_state-*.json"))


def _new_tuner(config, data):
    _init_ray(config)
    return tune.Tuner(
        _trainable(config, data),
        param_space=build_param_space(config),
        tune_config=tune_config(config),
        run_config=tune.RunConfig(
            name=config.name,
            storage_path=str(config.study_dir.parent),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
            failure_config=tune.FailureConfig(max_failures=config.max_failures),
            callbacks=[ResultsCallback(config.study_dir, config.name)],
            verbose=1,
        ),
    )


def tune_config(config):
    """Return the study's Tune settings: ASHA, trial order, samples and actor reuse."""
    points = grid_points(config)
    return tune.TuneConfig(
        scheduler=build_scheduler(config),
        # Tune ignores TuneConfig.max_concurrent_trials when the search
        # algorithm is a BasicVariantGenerator instance (Ray 2.60), so the
        # generator itself limits the trials that run at once. Each grid
        # point is one preset trial, so trials start in the order that
        # grid_points gives, and each point counts as one sample.
        search_alg=BasicVariantGenerator(
            random_state=config.seed,
            max_concurrent=config.max_concurrent_trials or 0,
            points_to_evaluate=points,
        ),
        num_samples=len(points) or config.num_samples,
        reuse_actors=True,
    )


def _trainable(config, data):
    from trainables.entry import train_simclr

    resources = {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial}
    return tune.with_resources(tune.with_parameters(train_simclr, data=data), resources)


def _init_ray(config):
    if ray.is_initialized():
        return
    if config.address:
        ray.init(address=config.address, logging_level=logging.WARNING)
    else:
        # The dashboard and its job-submission API run code sent by any client
        # that reaches them, so the embedded Ray starts no dashboard.
        ray.init(include_dashboard=False, dashboard_host="127.0.0.1", logging_level=logging.WARNING)


def _fit(tuner, config):
    """Run the tuner; ResultsCallback writes the Parquet files as trials end and at the end."""
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", EXPERIMENT_SNAPSHOT_SECONDS)
    # Tune's own Ctrl-C handler ends the running trials as if they had
    # finished. Without it, KeyboardInterrupt reaches the CLI, which reports
    # the study as interrupted and resumable, the same as a killed driver.
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    try:
        return len(tuner.fit())
    finally:
        if not config.address:
            ray.shutdown()


def _write_config(study_dir, config):
    temporary = study_dir / f".{CONFIG_FILE}.tmp"
    temporary.write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
    os.replace(temporary, study_dir / CONFIG_FILE)
