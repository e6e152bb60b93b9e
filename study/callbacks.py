"""A Tune callback that keeps the study's Parquet files current while trials run."""

import json
import logging
from pathlib import Path

from ray import tune

from study.results import write_results

logger = logging.getLogger(__name__)


def error_line(error):
    """Last non-empty line of an error or traceback text: the exception and its message."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


class _Reports:
    """Reports seen so far per trial, seeded from the result files already on disk."""

    def __init__(self, study_dir):
        self.reports, self.configs = {}, {}
        for result_file in Path(study_dir).glob("*/result.json"):
            self._read_result_file(result_file)

    def _read_result_file(self, result_file):
        with open(result_file) as handle:
            for line in handle:
                if line.strip():
                    self.add(json.loads(line))

    def add(self, report, config=None):
        trial_id = report.get("trial_id")
        if trial_id is None:
            return
        self.reports.setdefault(trial_id, []).append(report)
        self.configs[trial_id] = config or report.get("config") or self.configs.get(trial_id, {})


def _callback_base():
    from ray import tune

    return tune.Callback


class ResultsCallback(tune.Callback):
    """Rewrite the Parquet files whenever a trial ends, so finished work is on disk early."""

    def __init__(self, study_dir, study):
        self.study_dir, self.study = Path(study_dir), study
        self.seen = None
        self.errors = {}

    def setup(self, **info):
        self.seen = _Reports(self.study_dir)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.seen.add(result, trial.config)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._write()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.errors[trial.trial_id] = error_line(trial.get_error() or "trial failed")
        self._write()

    def _write(self):
        records = [
            (trial_id, dict(self.seen.configs.get(trial_id) or {}), reports, self.errors.get(trial_id))
            for trial_id, reports in self.seen.reports.items()
        ]
        try:
            write_results(self.study_dir, self.study, records)
        except (OSError, ValueError) as error:
            logger.warning("could not update the study's Parquet files: %s", error)
