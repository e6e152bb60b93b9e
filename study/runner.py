"""Run a study on Ray Tune: embedded local Ray by default, or an existing cluster.

The data set is loaded once in the driver and handed to every trial through
Ray's object store (`tune.with_parameters`), so each node keeps one copy that
all its trials share, and a missing or corrupt data set fails before any trial
starts.
"""

import logging
import math
import os
from pathlib import Path

import ray
import yaml
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

from study.config import CONFIG_FILE
from study.callbacks import ResultsCallback, error_line
from study.results import write_results
from study.scheduler import build_scheduler
from study.space import build_param_space

CHECKPOINTS_KEPT = 2


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
    """Create the study folder, run every trial and write the Parquet files; return the records."""
    study_dir = config.study_dir
    study_dir.mkdir(parents=True, exist_ok=False)
    _write_config(study_dir, config)
    tuner = _new_tuner(config, data)
    return _fit(tuner, config)


def resume_study(config, data):
    """Continue a study whose driver stopped: finished trials stay, the others resume."""
    _init_ray(config)
    tuner = tune.Tuner.restore(
        str(config.study_dir),
        trainable=_trainable(config, data),
        resume_unfinished=True,
        resume_errored=True,
    )
    return _fit(tuner, config)


def _new_tuner(config, data):
    _init_ray(config)
    return tune.Tuner(
        _trainable(config, data),
        param_space=build_param_space(config),
        tune_config=tune.TuneConfig(
            scheduler=build_scheduler(config),
            search_alg=BasicVariantGenerator(random_state=config.seed),
            num_samples=config.num_samples,
            max_concurrent_trials=config.max_concurrent_trials,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=config.name,
            storage_path=str(config.study_dir.parent),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
            failure_config=tune.FailureConfig(max_failures=config.max_failures),
            callbacks=[ResultsCallback(config.study_dir, config.name)],
            verbose=1,
        ),
    )


def _trainable(config, data):
    from trainables.trainable import train_simclr

    resources = {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial}
    return tune.with_resources(tune.with_parameters(train_simclr, data=data), resources)


def _init_ray(config):
    if ray.is_initialized():
        return
    if config.address:
        ray.init(address=config.address, logging_level=logging.WARNING)
    else:
        # The dashboard and its job-submission API run code for whoever reaches
        # them, so the embedded Ray starts none.
        ray.init(include_dashboard=False, dashboard_host="127.0.0.1", logging_level=logging.WARNING)


def _fit(tuner, config):
    try:
        grid = tuner.fit()
        records = [_result_record(result) for result in grid]
        write_results(config.study_dir, config.name, records)
        return records
    finally:
        if not config.address:
            ray.shutdown()


def _result_record(result):
    frame = result.metrics_dataframe
    reports = [] if frame is None else [_clean(row) for row in frame.to_dict("records")]
    if not reports and result.metrics:
        reports = [_clean(result.metrics)]
    trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name
    error = None if result.error is None else error_line(result.error)
    return trial_id, _trial_config(result.config), reports, error


def _trial_config(config):
    return {key: value for key, value in (config or {}).items()}


def _clean(row):
    """Replace pandas' NaN for a missing value with None."""
    return {
        key: (None if isinstance(value, float) and math.isnan(value) else value)
        for key, value in row.items()
    }


def _write_config(study_dir, config):
    temporary = study_dir / f".{CONFIG_FILE}.tmp"
    temporary.write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
    os.replace(temporary, study_dir / CONFIG_FILE)
