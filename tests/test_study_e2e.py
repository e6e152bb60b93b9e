"""A real study on a local Ray: two tiny trials on the digits, both Parquet files checked."""

import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest

from study.results import HISTORY_SCHEMA, SUMMARY_SCHEMA, read_history, read_summary

TINY_STUDY = """
dataset: digits
image_size: 8
num_samples: 1
max_epochs: 2
grace_period: 1
reduction_factor: 2
max_failures: 0
space:
  depth: {grid: [18]}
  temperature: {grid: [0.2, 0.5]}
  batch_size: 128
  learning_rate: {loguniform: [0.1, 0.5]}
trial:
  width: 0.125
  projection_dim: 16
  warmup_epochs: 1
  knn_k: 10
"""


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    study_file = root / "tiny.yaml"
    study_file.write_text(TINY_STUDY)
    completed = subprocess.run(
        [sys.executable, "-m", "study.cli", "run", "--config", str(study_file),
         "--storage-path", str(root / "studies"), "--name", "tiny", "--seed", "3"],
        capture_output=True, text=True, timeout=600,
    )
    return root / "studies" / "tiny", completed


@pytest.mark.slow
def test_study_exits_zero_and_prints_ranking(finished_study):
    _, completed = finished_study
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "trials, ranked by linear-probe accuracy" in completed.stdout


@pytest.mark.slow
def test_summary_has_one_row_per_trial_with_contract_types(finished_study):
    study_dir, _ = finished_study
    schema = pq.read_schema(study_dir / "summary.parquet")
    for field in SUMMARY_SCHEMA:
        assert schema.field(field.name).type == field.type, field.name
    summary = read_summary(study_dir)
    assert len(summary) == 2
    assert summary["trial_id"].is_unique
    assert set(summary["temperature"]) == {0.2, 0.5}
    assert (summary["study"] == "tiny").all()
    assert (summary["seed"] == 3).all()
    assert (summary["dataset"] == "digits").all()
    assert (summary["max_epochs"] == 2).all()
    for column in summary.columns:
        assert not isinstance(summary[column].iloc[0], (dict, list)), column


@pytest.mark.slow
def test_statuses_match_epochs_and_probes(finished_study):
    summary = read_summary(finished_study[0])
    assert set(summary["status"]) <= {"completed", "stopped"}
    assert "completed" in set(summary["status"])
    for row in summary.itertuples():
        if row.status == "completed":
            assert row.epochs_completed == 2
            assert 0.0 <= row.probe_accuracy <= 1.0
            assert 0.0 <= row.baseline_probe_accuracy <= 1.0
        else:
            assert row.epochs_completed == 1
            assert pd.isna(row.probe_accuracy)
    assert summary["knn_accuracy"].between(0, 1).all()
    assert (summary["images_per_second"] > 0).all()
    assert (summary["train_seconds"] > 0).all()
    assert summary["error"].isna().all()


@pytest.mark.slow
def test_history_has_every_epoch_once(finished_study):
    study_dir, _ = finished_study
    schema = pq.read_schema(study_dir / "history.parquet")
    for field in HISTORY_SCHEMA:
        assert schema.field(field.name).type == field.type, field.name
    history = read_history(study_dir)
    summary = read_summary(study_dir)
    assert len(history) == summary["epochs_completed"].sum()
    assert not history.duplicated(["trial_id", "epoch"]).any()
    for row in summary.itertuples():
        epochs = history[history["trial_id"] == row.trial_id]["epoch"].tolist()
        assert epochs == list(range(1, row.epochs_completed + 1))
    assert history["loss"].notna().all()
    assert (history["epoch_seconds"] > 0).all()


@pytest.mark.slow
def test_report_prints_ranked_table(finished_study):
    study_dir, _ = finished_study
    completed = subprocess.run(
        [sys.executable, "-m", "study.cli", "report", str(study_dir)],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0
    lines = completed.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["trial_id", "status"]
    assert "completed" in lines[1]
