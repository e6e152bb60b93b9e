"""Parquet summaries of a study: one row per trial and one row per trial epoch.

Both files are rewritten whole each time a trial ends and once the study ends,
by writing a temporary file beside the target and renaming it over the target,
so a crash at any moment leaves the last complete file readable.
"""

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Optional

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trainables.settings import TrialSettings

SUMMARY_FILE = "summary.parquet"
HISTORY_FILE = "history.parquet"
# The study's log of every report, one JSON object per line as Tune delivered
# it without its config, kept by study.callbacks.ResultsCallback.
REPORTS_FILE = "trial_reports.jsonl"

def iter_reports(path):
    """Yield each report of a JSON-lines file that names its trial, in file order.

    A line that does not parse (the last one, cut short when the driver was
    killed while writing it) is skipped. A missing file yields nothing.
    """
    path = Path(path)
    if not path.is_file():
        return
    with open(path) as handle:
        for line in handle:
            try:
                report = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(report, dict) and report.get("trial_id") is not None:
                yield report


# Arrow type of each trial setting column beyond the contract, from its Python type.
_ARROW_TYPES = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_(),
                Optional[bool]: pa.bool_()}
_SETTING_TYPES = {
    field.name: _ARROW_TYPES[field.type]
    for field in dataclasses.fields(TrialSettings)
    if field.type in _ARROW_TYPES
}

SUMMARY_SCHEMA = pa.schema([
    ("study", pa.string()),
    ("trial_id", pa.string()),
    ("status", pa.string()),
    ("dataset", pa.string()),
    ("depth", pa.int64()),
    ("width", pa.float64()),
    ("batch_size", pa.int64()),
    ("temperature", pa.float64()),
    ("learning_rate", pa.float64()),
    ("optimizer", pa.string()),
    ("seed", pa.int64()),
    ("epochs_completed", pa.int64()),
    ("max_epochs", pa.int64()),
    ("final_loss", pa.float64()),
    ("knn_accuracy", pa.float64()),
    ("probe_accuracy", pa.float64()),
    ("baseline_probe_accuracy", pa.float64()),
    ("train_seconds", pa.float64()),
    ("images_per_second", pa.float64()),
    ("error", pa.string()),
])
HISTORY_SCHEMA = pa.schema([
    ("study", pa.string()),
    ("trial_id", pa.string()),
    ("epoch", pa.int64()),
    ("loss", pa.float64()),
    ("knn_accuracy", pa.float64()),
    ("learning_rate", pa.float64()),
    ("epoch_seconds", pa.float64()),
    ("images_per_second", pa.float64()),
])
# Trial settings that the contract columns above already hold.
_CONTRACT_SETTINGS = {"dataset", "depth", "width", "batch_size", "temperature",
                      "learning_rate", "optimizer", "seed", "max_epochs"}


def epoch_rows(reports):
    """Per-epoch reports of one trial, in epoch order, without the diverged report.

    A trial restored from a checkpoint may repeat an epoch it reported before
    it died; the later report wins.
    """
    by_epoch = {}
    for report in reports:
        if report.get("diverged") or "loss" not in report or report.get("epoch") is None:
            continue
        by_epoch[int(report["epoch"])] = report
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def trial_status(reports, error, max_epochs):
    """Classify a trial: completed, stopped, diverged or failed."""
    last = reports[-1] if reports else {}
    if last.get("diverged"):
        return "diverged"
    if error:
        return "failed"
    epochs = max((int(r.get("epoch") or 0) for r in reports), default=0)
    return "completed" if epochs >= max_epochs and "probe_accuracy" in last else "stopped"


def summary_row(study, trial_id, config, reports, error):
    """Build one flat summary row from a trial's config, its reports and its error text."""
    epochs = epoch_rows(reports)
    last_epoch = epochs[-1] if epochs else {}
    last = reports[-1] if reports else {}
    status = trial_status(reports, error, config.get("max_epochs", 0))
    row = {
        "study": study,
        "trial_id": trial_id,
        "status": status,
        "epochs_completed": int(last_epoch.get("epoch", 0)),
        "final_loss": last_epoch.get("loss"),
        "knn_accuracy": last_epoch.get("knn_accuracy"),
        "probe_accuracy": last.get("probe_accuracy") if status == "completed" else None,
        "baseline_probe_accuracy": last.get("baseline_probe_accuracy") if status == "completed" else None,
        "train_seconds": last.get("time_total_s", last_epoch.get("train_seconds")),
        "images_per_second": last_epoch.get("mean_images_per_second"),
        "error": error_line(last.get("error") if status == "diverged" else error),
    }
    for key, value in config.items():
        row[key] = value
    return row


def history_table(study, trials):
    """History DataFrame from `{trial_id: reports}`."""
    rows = [
        {"study": study, "trial_id": trial_id, **{name: report.get(name) for name in HISTORY_SCHEMA.names[2:]}}
        for trial_id, reports in trials.items()
        for report in epoch_rows(reports)
    ]
    table = pa.Table.from_pylist(rows, schema=HISTORY_SCHEMA)
    return table


def summary_table(rows):
    """Arrow table of summary rows: the contract columns first, typed, then extra settings."""
    extra = sorted({key for row in rows for key in row} - set(SUMMARY_SCHEMA.names))
    columns = {name: [row.get(name) for row in rows] for name in SUMMARY_SCHEMA.names}
    table = pa.Table.from_pydict(columns, schema=SUMMARY_SCHEMA)
    for name in extra:
        values = [row.get(name) for row in rows]
        setting_type = _SETTING_TYPES.get(name)
        if setting_type is not None:
            table = table.append_column(name, _typed_column(values, setting_type))
        else:
            table = table.append_column(name, _extra_column(values))
    return table


def _typed_column(values, arrow_type):
    """Column of a known trial setting, so summaries of different studies concatenate."""
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _extra_column(values)


def _extra_column(values):
    """Arrow array of one extra setting; values of mixed types become strings."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if value is None else str(value) for value in values], pa.string())


def write_results(study_dir, study, records):
    """Write both Parquet files atomically from `[(trial_id, config, reports, error)]`."""
    records = sorted(records, key=lambda record: record[0])
    rows = [summary_row(study, *record) for record in records]
    _write_atomic(summary_table(rows), Path(study_dir) / SUMMARY_FILE)
    reports = {trial_id: trial_reports for trial_id, _, trial_reports, _ in records}
    _write_atomic(history_table(study, reports), Path(study_dir) / HISTORY_FILE)


def read_summary(study_dir):
    """Return the study's summary as a pandas DataFrame, one row per trial."""
    return pd.read_parquet(_existing(study_dir, SUMMARY_FILE))


def read_history(study_dir):
    """Return the study's per-epoch history as a pandas DataFrame."""
    return pd.read_parquet(_existing(study_dir, HISTORY_FILE))


def ranked(summary):
    """Summary rows ranked by probe accuracy, then kNN accuracy; trials without a probe last."""
    return summary.sort_values(
        ["probe_accuracy", "knn_accuracy"], ascending=False, na_position="last"
    ).reset_index(drop=True)


def _existing(study_dir, name):
    path = Path(study_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; is {study_dir} a study folder written by simclr-study run?")
    return path


def _write_atomic(table, path):
    """Write `table` to a temporary file beside `path`, then rename it over `path`.

    Readers see either the previous file or the new one, never a partial file.
    On an error the temporary file is removed and the previous file stays.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "wb") as handle:
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if temporary.is_file():
            temporary.unlink()
        raise


def error_line(text):
    """Return the last non-empty line of an error or traceback text, or None when there is none."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else None
