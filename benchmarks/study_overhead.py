"""Study wall time against the trial time it contains, for a small real study on local Ray.

The study runs through the `simclr-study run` command in a subprocess, as a
user runs it. Every trial runs all its epochs: the study's grace period equals
its epoch budget, so ASHA stops no trial. That makes the same run usable for
replaying ASHA afterwards (benchmarks.asha_replay).
"""

import dataclasses
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

STUDY_NAME = "speed-study"
# Characters of a failed command's output that its error quotes. The log file keeps all of it.
LOG_TAIL_CHARS = 3000


@dataclasses.dataclass(frozen=True)
class StudyBenchmark:
    """A grid over the quick preset's trial settings, and how to replay ASHA on its history."""

    image_size: int
    max_epochs: int
    concurrency: int  # trials that run at once, one CPU each
    space: dict
    replay_grace_period: int
    replay_reduction_factor: float
    timeout_seconds: int


def study_benchmark(smoke):
    """Return the study to run: the quick preset as a full 8-trial grid, or 2 trials of 2 epochs for --smoke.

    The full study keeps the quick preset's image size, epoch budget and
    trial settings. Its grid takes the ends of the preset's learning-rate
    range and the larger of its batch sizes, and ASHA is replayed with the
    preset's grace period and reduction factor.
    """
    if smoke:
        return StudyBenchmark(
            image_size=8,
            max_epochs=2,
            concurrency=2,
            space={"depth": 18, "temperature": {"grid": [0.1, 0.5]}, "learning_rate": 0.2},
            replay_grace_period=1,
            replay_reduction_factor=2,
            timeout_seconds=600,
        )
    from study.config import read_preset

    preset = read_preset("quick")
    return StudyBenchmark(
        image_size=preset["image_size"],
        max_epochs=preset["max_epochs"],
        concurrency=2,
        space={
            "depth": {"grid": [18, 34]},
            "temperature": {"grid": [0.1, 0.5]},
            "learning_rate": {"grid": [0.05, 0.5]},
        },
        replay_grace_period=preset["grace_period"],
        replay_reduction_factor=preset["reduction_factor"],
        timeout_seconds=3600,
    )


def study_file_content(benchmark):
    """Return the study file: the quick preset with this benchmark's grid, size and budget."""
    from study.config import read_preset

    study = read_preset("quick")
    study.update(
        image_size=benchmark.image_size,
        num_samples=1,
        max_epochs=benchmark.max_epochs,
        # A grace period equal to the budget leaves ASHA no rung below it.
        grace_period=benchmark.max_epochs,
        cpus_per_trial=1,
        max_concurrent_trials=benchmark.concurrency,
        max_failures=0,
        space={"batch_size": 128, **benchmark.space},
    )
    return yaml.safe_dump(study, sort_keys=False)


def run_study(benchmark, work_dir):
    """Run the study through the CLI; return its folder, its Unix start time and its wall time.

    Raises:
        RuntimeError: when the command fails, with the tail of its output.
    """
    work_dir = Path(work_dir)
    study_file = work_dir / f"{STUDY_NAME}.yaml"
    study_file.write_text(study_file_content(benchmark))
    log_file = work_dir / f"{STUDY_NAME}.log"
    command = [
        sys.executable, "-m", "study.cli", "run", "--config", str(study_file),
        "--storage-path", str(work_dir / "studies"), "--name", STUDY_NAME,
    ]
    started_at = time.time()
    start = time.perf_counter()
    with open(log_file, "w") as log:
        completed = subprocess.run(
            command, stdout=log, stderr=subprocess.STDOUT, timeout=benchmark.timeout_seconds
        )
    wall_seconds = time.perf_counter() - start
    if completed.returncode != 0:
        tail = log_file.read_text()[-LOG_TAIL_CHARS:]
        raise RuntimeError(f"{' '.join(command)} exited with {completed.returncode}:\n{tail}")
    return work_dir / "studies" / STUDY_NAME, started_at, wall_seconds


def _reports(result_file):
    return [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]


def trial_spans(study_dir):
    """Return (start, end) Unix times of every trial, from Tune's result.json files.

    Tune stamps each report with whole seconds, so each time is accurate to
    about one second. A trial starts when its first epoch started, that is
    its first report's timestamp minus that report's time_this_iter_s.
    """
    spans = []
    for result_file in sorted(Path(study_dir).glob("*/result.json")):
        reports = _reports(result_file)
        if not reports:
            continue
        first, last = reports[0], reports[-1]
        spans.append((first["timestamp"] - first["time_this_iter_s"], last["timestamp"]))
    return spans


def between_epochs(study_dir):
    """Return the median seconds and share of an iteration spent outside the epoch's own work.

    An iteration is Tune's time from one report to the next. The epoch's own
    work, its `epoch_seconds`, is training and the kNN monitor. The rest is
    building the epoch's dataset, writing the checkpoint and reporting. A
    trial's first iteration (model building and tracing) and last (the
    linear probe) are left out.
    """
    seconds, shares = [], []
    for result_file in sorted(Path(study_dir).glob("*/result.json")):
        for report in _reports(result_file)[1:-1]:
            outside = report["time_this_iter_s"] - report["epoch_seconds"]
            seconds.append(outside)
            shares.append(outside / report["time_this_iter_s"])
    if not seconds:
        return {}
    return {"between_epochs_seconds": statistics.median(seconds), "between_epochs_share": statistics.median(shares)}


def study_overhead(benchmark, study_dir, started_at, wall_seconds):
    """Return the study's wall time / (sum of trial times / concurrency), with its parts."""
    from study.results import read_summary

    summary = read_summary(study_dir)
    trial_seconds = summary["train_seconds"].astype(float).tolist()
    ideal_seconds = sum(trial_seconds) / benchmark.concurrency
    spans = trial_spans(study_dir)
    figures = {
        "trials": len(trial_seconds),
        "concurrency": benchmark.concurrency,
        "wall_seconds": wall_seconds,
        "trial_seconds_sum": sum(trial_seconds),
        "trial_seconds_median": statistics.median(trial_seconds),
        "ideal_seconds": ideal_seconds,
        "ratio": wall_seconds / ideal_seconds,
        **between_epochs(study_dir),
    }
    if spans:
        first_start = min(start for start, _ in spans)
        last_end = max(end for _, end in spans)
        figures.update(
            before_first_trial_seconds=first_start - started_at,
            after_last_trial_seconds=started_at + wall_seconds - last_end,
            trials_running_seconds=last_end - first_start,
        )
    return figures
