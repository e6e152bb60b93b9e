"""Decision tables of the summary and history rows, and atomic Parquet writes."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from study import results
from study.callbacks import read_reports
from study.results import (
    HISTORY_FILE,
    HISTORY_SCHEMA,
    SUMMARY_FILE,
    SUMMARY_SCHEMA,
    epoch_rows,
    read_history,
    read_summary,
    summary_row,
    trial_status,
    write_results,
)

CONFIG = {
    "dataset": "digits", "depth": 18, "width": 0.125, "batch_size": 128, "temperature": 0.5,
    "learning_rate": 0.2, "optimizer": "lars", "seed": 3, "max_epochs": 2, "warmup_epochs": 1.0,
}


def _epoch(epoch, loss=5.0, knn=0.5, **extra):
    return {
        "epoch": epoch, "loss": loss, "knn_accuracy": knn, "learning_rate": 0.1,
        "epoch_seconds": 1.5, "images_per_second": 900.0, "train_seconds": 1.2 * epoch,
        "mean_images_per_second": 850.0, "diverged": False, "time_total_s": 2.0 * epoch, **extra,
    }


PROBE = {"probe_accuracy": 0.8, "baseline_probe_accuracy": 0.6}
DIVERGED = {"epoch": 1, "knn_accuracy": 0.5, "diverged": True,
            "error": "NT-Xent loss became nan in epoch 2", "time_total_s": 3.0}

# (case, reports, error, expected status) with max_epochs = 2.
STATUS_TABLE = [
    ("no reports", [], None, "stopped"),
    ("all epochs and the probe", [_epoch(1), _epoch(2, **PROBE)], None, "completed"),
    ("stopped at a rung", [_epoch(1)], None, "stopped"),
    ("last epoch without probe", [_epoch(1), _epoch(2)], None, "stopped"),
    ("final report repeated", [_epoch(1), _epoch(2, **PROBE), _epoch(2, **PROBE)], None, "completed"),
    ("diverged", [_epoch(1), DIVERGED], None, "diverged"),
    ("diverged in the first epoch", [{**DIVERGED, "epoch": 0, "knn_accuracy": 0.0}], None, "diverged"),
    ("diverged and an error", [_epoch(1), DIVERGED], "RuntimeError: worker lost", "diverged"),
    ("error before any report", [], "RuntimeError: CUDA out of memory", "failed"),
    ("error after some epochs", [_epoch(1)], "ValueError: labels do not match images", "failed"),
    ("error after all epochs", [_epoch(1), _epoch(2, **PROBE)], "ValueError: labels do not match images", "failed"),
]


@pytest.mark.parametrize("case,reports,error,expected", STATUS_TABLE, ids=[row[0] for row in STATUS_TABLE])
def test_trial_status_table(case, reports, error, expected):
    assert trial_status(reports, error, max_epochs=2) == expected


def test_epoch_rows_sorted_by_epoch():
    rows = epoch_rows([_epoch(2), _epoch(1)])
    assert [row["epoch"] for row in rows] == [1, 2]


def test_epoch_rows_later_report_wins():
    rows = epoch_rows([_epoch(1, loss=6.0), _epoch(2, loss=5.5), _epoch(2, loss=5.4)])
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[1]["loss"] == 5.4


def test_epoch_rows_skip_reports_without_epoch_data():
    reports = [_epoch(1), DIVERGED, {"epoch": 2, "knn_accuracy": 0.1}, {"loss": 4.0, "epoch": None}]
    rows = epoch_rows(reports)
    assert [row["epoch"] for row in rows] == [1]


def test_epoch_rows_of_no_reports():
    assert epoch_rows([]) == []


def test_summary_row_completed():
    row = summary_row("s", "t1", CONFIG, [_epoch(1, loss=6.0), _epoch(2, loss=5.0, knn=0.7, **PROBE)], None)
    assert row["status"] == "completed"
    assert row["epochs_completed"] == 2
    assert row["final_loss"] == 5.0
    assert row["knn_accuracy"] == 0.7
    assert row["probe_accuracy"] == 0.8
    assert row["baseline_probe_accuracy"] == 0.6
    assert row["train_seconds"] == 4.0
    assert row["images_per_second"] == 850.0
    assert row["error"] is None
    assert row["warmup_epochs"] == 1.0
    assert row["study"] == "s"
    assert row["trial_id"] == "t1"


def test_summary_row_stopped_has_no_probe():
    row = summary_row("s", "t1", CONFIG, [_epoch(1, **PROBE)], None)
    assert row["status"] == "stopped"
    assert row["epochs_completed"] == 1
    assert row["probe_accuracy"] is None
    assert row["baseline_probe_accuracy"] is None


def test_summary_row_diverged_keeps_last_finite_epoch():
    row = summary_row("s", "t1", CONFIG, [_epoch(1, loss=6.0, knn=0.4), DIVERGED], None)
    assert row["status"] == "diverged"
    assert row["epochs_completed"] == 1
    assert row["final_loss"] == 6.0
    assert row["knn_accuracy"] == 0.4
    assert row["error"] == "NT-Xent loss became nan in epoch 2"
    assert row["probe_accuracy"] is None
    assert row["train_seconds"] == 3.0


def test_summary_row_diverged_in_first_epoch():
    row = summary_row("s", "t1", CONFIG, [{**DIVERGED, "epoch": 0, "knn_accuracy": 0.0}], None)
    assert row["status"] == "diverged"
    assert row["epochs_completed"] == 0
    assert row["final_loss"] is None
    assert row["knn_accuracy"] is None


def test_summary_row_failed_error_is_one_line():
    traceback = "Traceback (most recent call last):\n  File 'x', line 1\nValueError: bad labels\n"
    row = summary_row("s", "t1", CONFIG, [_epoch(1)], traceback)
    assert row["status"] == "failed"
    assert row["error"] == "ValueError: bad labels"
    assert row["epochs_completed"] == 1
    assert row["probe_accuracy"] is None


def test_summary_row_failed_without_reports():
    row = summary_row("s", "t1", CONFIG, [], "RuntimeError: CUDA out of memory")
    assert row["status"] == "failed"
    assert row["epochs_completed"] == 0
    assert row["final_loss"] is None
    assert row["train_seconds"] is None


def _records():
    return [
        ("t2", CONFIG, [_epoch(1), DIVERGED], None),
        ("t1", CONFIG, [_epoch(1), _epoch(2, **PROBE), _epoch(2, **PROBE)], None),
        ("t3", {**CONFIG, "warmup_epochs": 0.0}, [], "RuntimeError: CUDA out of memory"),
    ]


def test_write_results_contract_types(tmp_path):
    write_results(tmp_path, "s", _records())
    summary_schema = pq.read_schema(tmp_path / SUMMARY_FILE)
    history_schema = pq.read_schema(tmp_path / HISTORY_FILE)
    for field in SUMMARY_SCHEMA:
        assert summary_schema.field(field.name).type == field.type, field.name
    for field in HISTORY_SCHEMA:
        assert history_schema.field(field.name).type == field.type, field.name


def test_write_results_rows(tmp_path):
    write_results(tmp_path, "s", _records())
    summary = read_summary(tmp_path)
    history = read_history(tmp_path)
    assert summary["trial_id"].tolist() == ["t1", "t2", "t3"]
    assert summary["status"].tolist() == ["completed", "diverged", "failed"]
    assert summary["warmup_epochs"].tolist() == [1.0, 1.0, 0.0]
    assert history[["trial_id", "epoch"]].values.tolist() == [["t1", 1], ["t1", 2], ["t2", 1]]


def test_extra_column_of_mixed_types_becomes_strings(tmp_path):
    records = [("t1", {**CONFIG, "small_stem": None}, [_epoch(1)], None),
               ("t2", {**CONFIG, "small_stem": "auto"}, [_epoch(1)], None),
               ("t3", {**CONFIG, "small_stem": 1.5}, [_epoch(1)], None)]
    write_results(tmp_path, "s", records)
    column = pq.read_table(tmp_path / SUMMARY_FILE).column("small_stem")
    assert column.to_pylist() == [None, "auto", "1.5"]


def test_failed_write_keeps_previous_file(tmp_path):
    write_results(tmp_path, "s", _records()[:1])
    before = (tmp_path / SUMMARY_FILE).read_bytes()
    # A folder where the temporary file must go makes the next write fail.
    (tmp_path / f".{SUMMARY_FILE}.tmp").mkdir()
    with pytest.raises(OSError):
        write_results(tmp_path, "s", _records())
    assert (tmp_path / SUMMARY_FILE).read_bytes() == before
    assert read_summary(tmp_path)["trial_id"].tolist() == ["t2"]


def test_crash_mid_write_leaves_no_partial_file(tmp_path, monkeypatch):
    write_results(tmp_path, "s", _records()[:1])
    before = {name: (tmp_path / name).read_bytes() for name in (SUMMARY_FILE, HISTORY_FILE)}

    def write_half_then_fail(table, where, **kwargs):
        where.write(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(results.pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_results(tmp_path, "s", _records())
    monkeypatch.undo()

    for name, content in before.items():
        assert (tmp_path / name).read_bytes() == content
    assert sorted(path.name for path in tmp_path.iterdir()) == [HISTORY_FILE, SUMMARY_FILE]
    assert len(read_history(tmp_path)) == 1


def test_successful_write_leaves_no_temporary_file(tmp_path):
    write_results(tmp_path, "s", _records())
    write_results(tmp_path, "s", _records())
    assert sorted(path.name for path in tmp_path.iterdir()) == [HISTORY_FILE, SUMMARY_FILE]


def test_read_summary_of_non_study(tmp_path):
    with pytest.raises(FileNotFoundError, match="summary.parquet not found"):
        read_summary(tmp_path)


def test_read_reports_skips_cut_line(tmp_path):
    log = tmp_path / "trial_reports.jsonl"
    lines = [json.dumps({"trial_id": "a", "epoch": 1}), json.dumps({"trial_id": "b", "epoch": 1}),
             json.dumps({"epoch": 3}), '{"trial_id": "a", "ep']
    log.write_text("\n".join(lines))
    reports = read_reports(log)
    assert sorted(reports) == ["a", "b"]
    assert reports["a"] == [{"trial_id": "a", "epoch": 1}]


def test_read_reports_of_missing_file(tmp_path):
    assert read_reports(tmp_path / "absent.jsonl") == {}


def test_missing_values_are_null(tmp_path):
    write_results(tmp_path, "s", _records())
    table = pq.read_table(tmp_path / SUMMARY_FILE).to_pydict()
    failed = table["status"].index("failed")
    assert table["final_loss"][failed] is None
    assert table["probe_accuracy"][failed] is None
    assert table["error"][table["status"].index("completed")] is None


def test_setting_columns_have_fixed_types(tmp_path):
    from study.results import write_results

    config = {"max_epochs": 1, "warmup_epochs": 1, "small_stem": None, "mixed_precision": None}
    reports = [{"epoch": 1, "loss": 1.0, "knn_accuracy": 0.5, "probe_accuracy": 0.6}]
    write_results(tmp_path, "typed", [("t1", config, reports, None)])
    schema = pq.read_schema(tmp_path / "summary.parquet")
    assert schema.field("warmup_epochs").type == pa.float64()
    assert schema.field("small_stem").type == pa.bool_()
    assert schema.field("mixed_precision").type == pa.bool_()


def test_summary_row_without_max_epochs():
    from study.results import summary_row

    row = summary_row("s", "t1", {}, [], None)
    assert row["status"] == "stopped"
    assert row["epochs_completed"] == 0
