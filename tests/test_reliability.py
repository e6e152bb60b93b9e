"""Faults injected into real studies: killed workers and drivers, divergence, failing trials.

Each study runs the real CLI in a subprocess on an embedded local Ray. The
tests find Ray's processes through the driver's process tree, so they never
touch another Ray instance on the machine.
"""

import contextlib
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest
import psutil
from ray import tune

from study.callbacks import REPORTS_FILE, read_reports
from study.results import read_history, read_summary
from study.runner import has_tune_state
from trainables import trainable as trainable_module
from trainables.checkpoint import save_checkpoint
from trainables.data import load_dataset
from trainables.settings import TrialSettings

STUDY_TIMEOUT_S = 300
# Process title of a Ray Tune function-trainable worker while it trains (Ray 2.60).
TRIAL_WORKER_TITLE = "ray::ImplicitFunc"
DASHBOARD_PORT = 8265

TINY_TRIAL = """
trial:
  width: 0.125
  projection_dim: 16
  warmup_epochs: 1
  knn_k: 10
"""

TWO_TRIAL_STUDY = """
dataset: digits
image_size: 8
num_samples: 1
max_epochs: 3
grace_period: 3
reduction_factor: 2
max_failures: 1
max_concurrent_trials: 1
space:
  temperature: {grid: [0.2, 0.5]}
  batch_size: 128
  learning_rate: 0.2
""" + TINY_TRIAL

# Plain SGD without warmup or batch-size scaling: 1e30 makes the loss NaN in
# the first epoch, 0.3 trains normally, and the trial at 0.05 gets a fault.
FAULT_STUDY = """
dataset: digits
image_size: 8
num_samples: 1
max_epochs: 2
grace_period: 2
reduction_factor: 2
max_failures: 0
space:
  learning_rate: {grid: [0.3, 1.0e+30, 0.05]}
  batch_size: 128
trial:
  width: 0.125
  projection_dim: 16
  optimizer: sgd
  lr_scaling: none
  warmup_epochs: 0
  knn_k: 10
"""
NORMAL_RATE, DIVERGING_RATE, FAILING_RATE = 0.3, 1.0e30, 0.05

# The study CLI with a trainable that hands the trial at FAILING_RATE test
# labels one short of its test images, so its linear probe raises after the
# last epoch. Ray pickles this wrapper by value, since it lives in __main__.
FAULT_SCRIPT = f"""
import dataclasses
import sys
import types

import trainables.entry
from study.cli import main


def train_simclr(config, data=None):
    import trainables.trainable as real

    if config["learning_rate"] == {FAILING_RATE!r}:
        fields = {{field.name: getattr(data, field.name) for field in dataclasses.fields(data)}}
        fields["y_test"] = fields["y_test"][:-1]
        data = types.SimpleNamespace(**fields)
    return real.train_simclr(config, data)


trainables.entry.train_simclr = train_simclr
sys.exit(main(sys.argv[1:]))
"""


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


class Study:
    """A `simclr-study` subprocess whose output goes to files, and its study folder."""

    def __init__(self, root, name, study_text, script=None):
        self.root = Path(root)
        self.name = name
        self.dir = self.root / "studies" / name
        self.study_file = self.root / f"{name}.yaml"
        self.study_file.write_text(study_text)
        self.script = script
        self.process = None
        self.runs = 0

    def command(self, *args):
        if self.script is None:
            return [sys.executable, "-m", "study.cli", *args]
        script_file = self.root / f"{self.name}_cli.py"
        script_file.write_text(self.script)
        return [sys.executable, str(script_file), *args]

    def start(self):
        self.process = self._spawn(
            "run", "--config", str(self.study_file), "--storage-path", str(self.root / "studies"),
            "--name", self.name, "--seed", "3",
        )
        return self.process

    def resume(self):
        self.process = self._spawn("resume", str(self.dir))
        return self.process

    def _spawn(self, *args):
        self.runs += 1
        self.stdout = self.root / f"{self.name}.{self.runs}.out"
        self.stderr = self.root / f"{self.name}.{self.runs}.err"
        with open(self.stdout, "w") as out, open(self.stderr, "w") as err:
            return subprocess.Popen(self.command(*args), stdout=out, stderr=err)

    def wait(self, timeout=STUDY_TIMEOUT_S):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(self.process.pid)
            pytest.fail(f"study {self.name} did not end within {timeout} s:\n{self.stderr_tail()}")

    def stderr_tail(self, chars=3000):
        return self.stderr.read_text()[-chars:]

    def trial_dirs(self):
        return sorted(path for path in self.dir.glob("train_simclr_*") if path.is_dir())

    def reports(self):
        return read_reports(self.dir / REPORTS_FILE)


def wait_until(condition, study, timeout=STUDY_TIMEOUT_S, description="condition"):
    """Poll `condition` until it returns a true value; fail when the study ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if study.process.poll() is not None:
            pytest.fail(f"study {study.name} ended before {description}:\n{study.stderr_tail()}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {description}")


def process_tree(pid):
    """The process and all its descendants that are still alive."""
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    return []


def kill_tree(pid):
    for process in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def process_title(process):
    """Command line of a process; Ray workers show their role here, e.g. ray::IDLE."""
    with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
        return " ".join(process.cmdline()).strip()
    return ""


def trial_workers(driver_pid):
    """Ray workers of this driver that are running a trial."""
    return [
        process for process in process_tree(driver_pid)[1:]
        if process_title(process).startswith(TRIAL_WORKER_TITLE)
    ]


def checkpoints(trial_dir):
    return sorted(path.name for path in trial_dir.glob("checkpoint_*"))


def epochs_by_trial(study_dir):
    history = read_history(study_dir)
    return {trial_id: group["epoch"].tolist() for trial_id, group in history.groupby("trial_id")}


def result_lines(trial_dir):
    with open(trial_dir / "result.json") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def numbers_in(report):
    return [value for value in report.values() if isinstance(value, (int, float)) and not isinstance(value, bool)]


# ---------------------------------------------------------------------------
# Resume from a checkpoint inside one process, without Ray
# ---------------------------------------------------------------------------

RESUME_SETTINGS = dict(depth=18, width=0.125, projection_dim=16, batch_size=256, temperature=0.5,
                       learning_rate=0.2, warmup_epochs=1.0, max_epochs=2, knn_k=10, seed=3)


def _new_pretraining(settings, splits):
    keras.utils.set_random_seed(settings.seed)
    return trainable_module._Pretraining(settings, splits, mixed=False)


@pytest.fixture(scope="module")
def tiny_splits():
    return load_dataset("digits", image_size=8, seed=3)


@pytest.mark.slow
def test_resumed_epoch_matches_unbroken_run(tmp_path, tiny_splits):
    settings = TrialSettings.from_config(RESUME_SETTINGS)
    unbroken = _new_pretraining(settings, tiny_splits)
    state = unbroken.restore(None)
    unbroken.train_epoch(0, state)
    save_checkpoint(str(tmp_path), unbroken.encoder, unbroken.head, unbroken.optimizer, state)
    expected = unbroken.train_epoch(1, state)

    resumed = _new_pretraining(settings, tiny_splits)
    resumed_state = resumed.restore(tune.Checkpoint.from_directory(str(tmp_path)))
    assert resumed_state["epochs_completed"] == 1
    actual = resumed.train_epoch(1, resumed_state)

    assert actual["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert actual["knn_accuracy"] == pytest.approx(expected["knn_accuracy"], abs=0.02)
    assert actual["learning_rate"] == pytest.approx(expected["learning_rate"])
    assert resumed_state["views"] == state["views"]

    # Without the checkpoint, the same epoch gives another loss.
    fresh = _new_pretraining(settings, tiny_splits)
    unrestored = fresh.train_epoch(1, fresh.restore(None))
    assert unrestored["loss"] != pytest.approx(expected["loss"], rel=1e-3)


class _RecordingTune:
    """Stands in for `ray.tune` inside `train_simclr`: hands out one checkpoint, keeps reports."""

    Checkpoint = tune.Checkpoint

    def __init__(self, checkpoint):
        self.checkpoint = checkpoint
        self.reports = []

    def get_checkpoint(self):
        return self.checkpoint

    def get_context(self):
        raise RuntimeError("not in a Tune session")

    def report(self, metrics, checkpoint=None):
        self.reports.append((metrics, checkpoint))


def test_restore_after_last_epoch_reports_again(tmp_path, tiny_splits, monkeypatch):
    settings = TrialSettings.from_config(RESUME_SETTINGS)
    run = _new_pretraining(settings, tiny_splits)
    final_report = {"epoch": 2, "loss": 5.1, "knn_accuracy": 0.7, "probe_accuracy": 0.8,
                    "baseline_probe_accuracy": 0.6, "diverged": False}
    state = {"epochs_completed": 2, "train_seconds": 4.0, "views": 4096, "knn_accuracy": 0.7,
             "final_report": final_report}
    save_checkpoint(str(tmp_path), run.encoder, run.head, run.optimizer, state)
    fake_tune = _RecordingTune(tune.Checkpoint.from_directory(str(tmp_path)))
    monkeypatch.setattr(trainable_module, "tune", fake_tune)

    trainable_module.train_simclr(RESUME_SETTINGS, data=tiny_splits)

    assert fake_tune.reports == [(final_report, None)]


# ---------------------------------------------------------------------------
# One study with two faults. The first trial's worker is killed in the middle
# of its second epoch. Later the driver is killed while the second trial is in
# its third epoch, and the study is resumed.
# ---------------------------------------------------------------------------


class Faults:
    """What the test saw while it injected the faults into one study."""

    first_trial_dir = None
    killed_worker_pid = None
    summary_after_first_trial = None
    reports_before_resume = None
    lingering = ()
    run_status = None
    resume_status = None


@pytest.fixture(scope="module")
def killed_study(tmp_path_factory):
    study = Study(tmp_path_factory.mktemp("kills"), "kills", TWO_TRIAL_STUDY)
    faults = Faults()
    study.start()
    try:
        faults.first_trial_dir = wait_until(
            lambda: next((d for d in study.trial_dirs() if (d / "checkpoint_000000").is_dir()), None),
            study, description="the first checkpoint",
        )
        (worker,) = wait_until(lambda: trial_workers(study.process.pid), study, description="the trial worker")
        faults.killed_worker_pid = worker.pid
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

        # ResultsCallback writes summary.parquet when the first trial ends.
        wait_until(lambda: (study.dir / "summary.parquet").is_file(), study, description="the first trial's end")
        faults.summary_after_first_trial = read_summary(study.dir)
        wait_until(
            lambda: [d for d in study.trial_dirs() if d != faults.first_trial_dir
                     and (d / "checkpoint_000001").is_dir()],
            study, description="the second trial's second checkpoint",
        )
        tree = process_tree(study.process.pid)
        study.process.send_signal(signal.SIGKILL)
        faults.run_status = study.process.wait(timeout=30)
        faults.lingering = stop_orphans(tree[1:])
    finally:
        kill_tree(study.process.pid)
    faults.reports_before_resume = study.reports()
    study.resume()
    faults.resume_status = study.wait()
    return study, faults


def stop_orphans(processes):
    """Wait for the Ray processes of a killed driver to exit; return the titles of lingering ones.

    Trial workers and Ray's other processes must be gone within 30 s. Ray's
    dashboard and runtime-env agents notice the dead raylet at once but take
    about a minute to exit (Ray 2.60), so they are killed here at once, to
    free the machine for the resume.
    """
    agents = [process for process in processes if process_title(process).endswith("Agent")]
    for agent in agents:
        with contextlib.suppress(psutil.NoSuchProcess):
            agent.kill()
    others = [process for process in processes if process not in agents]
    _, alive = psutil.wait_procs(others, timeout=30)
    titles = [process_title(process) for process in alive]
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    return titles


@pytest.mark.slow
def test_killed_worker_was_restored(killed_study):
    _, faults = killed_study
    assert "Failure # 1" in (faults.first_trial_dir / "error.txt").read_text()
    lines = result_lines(faults.first_trial_dir)
    # Tune restarts its count of iterations since the last restore.
    assert any(line["iterations_since_restore"] < line["training_iteration"] for line in lines)
    assert lines[-1]["epoch"] == 3
    assert not psutil.pid_exists(faults.killed_worker_pid)


@pytest.mark.slow
def test_summary_written_when_first_trial_ended(killed_study):
    summary = killed_study[1].summary_after_first_trial
    assert summary["status"].tolist() == ["completed"]
    assert summary["epochs_completed"].tolist() == [3]


@pytest.mark.slow
def test_driver_kill_leaves_no_trial_worker(killed_study):
    _, faults = killed_study
    assert faults.run_status == -signal.SIGKILL
    assert faults.lingering == []


@pytest.mark.slow
def test_resume_completes_study(killed_study):
    study, faults = killed_study
    assert faults.resume_status == 0, study.stderr_tail()
    summary = read_summary(study.dir)
    assert len(summary) == 2
    assert summary["trial_id"].is_unique
    assert summary["status"].tolist() == ["completed", "completed"]
    assert summary["epochs_completed"].tolist() == [3, 3]
    assert summary["probe_accuracy"].between(0, 1).all()


@pytest.mark.slow
def test_history_has_each_epoch_once(killed_study):
    study = killed_study[0]
    epochs = epochs_by_trial(study.dir)
    assert len(epochs) == 2
    for trial_epochs in epochs.values():
        assert trial_epochs == [1, 2, 3]


@pytest.mark.slow
def test_resume_skips_finished_trial(killed_study):
    study, faults = killed_study
    finished_id = faults.summary_after_first_trial["trial_id"].iloc[0]
    before = faults.reports_before_resume[finished_id]
    assert len(study.reports()[finished_id]) == len(before)


@pytest.mark.slow
def test_resume_continues_from_checkpoint(killed_study):
    study, faults = killed_study
    before = faults.reports_before_resume
    (interrupted_id,) = set(before) - set(faults.summary_after_first_trial["trial_id"])
    new_reports = study.reports()[interrupted_id][len(before[interrupted_id]):]
    assert new_reports, "the interrupted trial reported nothing after the resume"
    assert new_reports[0]["epoch"] >= 2
    assert new_reports[-1]["epoch"] == 3


@pytest.mark.slow
def test_checkpoints_kept_are_bounded(killed_study):
    study = killed_study[0]
    for trial_dir in study.trial_dirs():
        assert checkpoints(trial_dir) == ["checkpoint_000001", "checkpoint_000002"]


# ---------------------------------------------------------------------------
# Divergence, a failing trial and the dashboard, in one study
# ---------------------------------------------------------------------------


def listening_sockets(processes):
    """(process name, address, port) of every listening TCP socket of `processes`."""
    sockets = []
    for process in processes:
        name = process_title(process)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for connection in process.net_connections(kind="inet"):
                if connection.status == psutil.CONN_LISTEN:
                    sockets.append((name, connection.laddr.ip, connection.laddr.port))
    return sockets


@pytest.fixture(scope="module")
def fault_study(tmp_path_factory):
    study = Study(tmp_path_factory.mktemp("faults"), "faults", FAULT_STUDY, script=FAULT_SCRIPT)
    study.start()
    try:
        wait_until(lambda: trial_workers(study.process.pid), study, description="a trial worker")
        sockets = listening_sockets(process_tree(study.process.pid))
        status = study.wait()
    finally:
        kill_tree(study.process.pid)
    return study, sockets, status


def _row(study, rate):
    summary = read_summary(study.dir)
    rows = summary[summary["learning_rate"] == rate]
    assert len(rows) == 1, summary[["trial_id", "learning_rate", "status"]]
    return rows.iloc[0]


@pytest.mark.slow
def test_fault_study_exits_one_with_failed_trial(fault_study):
    study, _, status = fault_study
    assert status == 1, study.stderr_tail()
    failed_id = _row(study, FAILING_RATE)["trial_id"]
    failure_lines = [line for line in study.stderr.read_text().splitlines()
                     if line.startswith(f"trial {failed_id} failed: ")]
    assert len(failure_lines) == 1
    assert "ValueError" in failure_lines[0]


@pytest.mark.slow
def test_diverged_trial_status_and_error(fault_study):
    row = _row(fault_study[0], DIVERGING_RATE)
    assert row["status"] == "diverged"
    assert row["error"] == "NT-Xent loss became nan in epoch 1"
    assert row["epochs_completed"] == 0


@pytest.mark.slow
def test_diverged_trial_reports_only_finite_numbers(fault_study):
    study = fault_study[0]
    trial_id = _row(study, DIVERGING_RATE)["trial_id"]
    reports = study.reports()[trial_id]
    assert reports[-1]["diverged"] is True
    for report in reports:
        assert all(math.isfinite(value) for value in numbers_in(report)), report
        assert math.isfinite(report["knn_accuracy"])


@pytest.mark.slow
def test_failed_trial_keeps_its_epochs(fault_study):
    study = fault_study[0]
    row = _row(study, FAILING_RATE)
    assert row["status"] == "failed"
    assert row["error"].startswith("ValueError: Found input variables with inconsistent numbers")
    assert "\n" not in row["error"]
    assert row["epochs_completed"] == 1
    assert epochs_by_trial(study.dir)[row["trial_id"]] == [1]


@pytest.mark.slow
def test_other_trial_completes_despite_faults(fault_study):
    study = fault_study[0]
    row = _row(study, NORMAL_RATE)
    assert row["status"] == "completed"
    assert 0 <= row["probe_accuracy"] <= 1
    assert epochs_by_trial(study.dir)[row["trial_id"]] == [1, 2]
    assert len(read_summary(study.dir)) == 3


@pytest.mark.slow
def test_dashboard_not_reachable_from_network(fault_study):
    sockets = fault_study[1]
    assert sockets, "no listening socket found; the check would pass for any setup"
    assert [s for s in sockets if s[2] == DASHBOARD_PORT] == []
    # The dashboard's head process runs ray/dashboard/dashboard.py, and its
    # agent is titled ray::DashboardAgent; the raylet only names them in flags.
    dashboard_sockets = [s for s in sockets if any("dashboard" in part.lower() for part in s[0].split()[:2])]
    assert all(ip in ("127.0.0.1", "::1") for _, ip, _ in dashboard_sockets), dashboard_sockets


def test_tune_state_needs_tuner_and_experiment_state(tmp_path):
    assert not has_tune_state(tmp_path)
    (tmp_path / "tuner.pkl").write_bytes(b"")
    assert not has_tune_state(tmp_path)
    (tmp_path / "experiment_state-2026-01-01_00-00-00.json").write_text("{}")
    assert has_tune_state(tmp_path)


@pytest.mark.slow
def test_ctrl_c_then_resume_completes(tmp_path):
    study = Study(tmp_path, "ctrlc", TWO_TRIAL_STUDY)
    study.start()
    try:
        wait_until(
            lambda: any((d / "checkpoint_000000").is_dir() for d in study.trial_dirs()),
            study, description="the first checkpoint",
        )
        tree = process_tree(study.process.pid)
        study.process.send_signal(signal.SIGINT)
        status = study.process.wait(timeout=120)
        stop_orphans(tree[1:])
    finally:
        kill_tree(study.process.pid)
    assert status == 130
    assert "continue the others with: simclr-study resume" in study.stderr_tail()

    study.resume()
    assert study.wait() == 0, study.stderr_tail()
    summary = read_summary(study.dir)
    assert len(summary) == 2
    assert set(summary["status"]) == {"completed"}
    assert epochs_by_trial(study.dir) == {trial_id: [1, 2, 3] for trial_id in summary["trial_id"]}
