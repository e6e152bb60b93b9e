"""A Tune callback that records every trial report and keeps the study's Parquet files current."""

import json
import logging
from pathlib import Path

import pyarrow as pa
from ray import tune
from ray.tune.experiment import Trial

from study.results import REPORTS_FILE, error_line, iter_reports, write_results

logger = logging.getLogger(__name__)

# Tune's own per-trial report log, read for trials that REPORTS_FILE does not cover.
TUNE_RESULT_FILE = "result.json"


def read_reports(path):
    """Return `{trial_id: [report, ...]}` from a JSON-lines file, in file order (see `iter_reports`)."""
    reports = {}
    for report in iter_reports(path):
        reports.setdefault(report["trial_id"], []).append(report)
    return reports


class ResultsCallback(tune.Callback):
    """Log every trial report and rewrite the Parquet files whenever a trial ends.

    Each report is appended to STUDY_DIR/trial_reports.jsonl when it arrives,
    and a resumed study reads the log back. Tune writes its own result.json per
    trial in a staging folder and copies it into the study folder only when it
    saves the experiment state (Ray 2.60), so after a killed driver the log
    contains reports that the study folder's result.json files lack.

    `Tuner.restore` brings back the copy of this callback pickled in tuner.pkl
    when the study started, so run-time state is created in `setup`, and the
    study folder is read from the trials, whose storage Tune points at the
    folder's current place.
    """

    def __init__(self, study_dir, study):
        self.study_dir = Path(study_dir)
        self.study = study

    def setup(self, **info):
        self._reports = None
        self._ended = set()

    def on_step_begin(self, iteration, trials, **info):
        self._load(trials)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._load(trials)
        report = {key: value for key, value in result.items() if key != "config"}
        report["trial_id"] = trial.trial_id
        self._reports.setdefault(trial.trial_id, []).append(report)
        self._append(report)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._ended.add(trial.trial_id)
        self._write(trials)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._ended.add(trial.trial_id)
        self._write(trials)

    def on_experiment_end(self, trials, **info):
        self._write(trials)

    def _load(self, trials):
        """Read the reports of earlier runs of this study, once per run."""
        if self._reports is not None:
            return
        if trials:
            self.study_dir = Path(trials[0].remote_experiment_path)
        reports_file = self.study_dir / REPORTS_FILE
        if reports_file.exists():
            self._reports = read_reports(reports_file)
            _end_with_newline(reports_file)
        else:
            # A new study, or one started before the report log existed.
            self._reports = {}
            for trial in trials:
                self._reports.update(read_reports(Path(trial.path) / TUNE_RESULT_FILE))

    def _append(self, report):
        try:
            with open(self.study_dir / REPORTS_FILE, "a") as handle:
                handle.write(json.dumps(report, default=str) + "\n")
        except OSError as error:
            logger.warning("could not log the report of trial %s: %s", report["trial_id"], error)

    def _write(self, trials):
        self._load(trials)
        records = [
            (trial.trial_id, dict(trial.config), self._reports.get(trial.trial_id, []), _trial_error(trial))
            for trial in trials
            if trial.trial_id in self._ended or trial.status in (Trial.TERMINATED, Trial.ERROR)
        ]
        try:
            write_results(self.study_dir, self.study, records)
        except (OSError, ValueError, pa.ArrowException) as error:
            logger.warning("could not update the study's Parquet files in %s: %s", self.study_dir, error)


def _trial_error(trial):
    """One-line error of a trial that ended with an error, else None."""
    if trial.status != Trial.ERROR:
        return None
    # Tune writes error.txt into the driver's staging folder first and copies
    # it to the study folder later, so read the staging copy when it exists.
    text = None
    if trial.error_file and Path(trial.error_file).is_file():
        text = Path(trial.error_file).read_text()
    text = text or trial.get_error()
    return error_line(text) or "the trial failed without an error message"


def _end_with_newline(path):
    """Terminate a last line cut short by a crash, so the next report starts a line of its own."""
    try:
        with open(path, "rb+") as handle:
            handle.seek(0, 2)
            if handle.tell() == 0:
                return
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
    except FileNotFoundError:
        return
