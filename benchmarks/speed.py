"""Measure the speed ratios and per-trial memory of simclr-study on this machine.

    python -m benchmarks.speed            # full sizes, about 10 minutes on 2 cores
    python -m benchmarks.speed --smoke    # smallest sizes, about 1.5 minutes

Prints, from one run, five figures with the raw measurements behind them:

1. SimCLR train-step throughput on pre-augmented views from memory, over the
   throughput of a supervised cross-entropy step of the same encoder on the
   same 2N images.
2. Epoch throughput with live augmentation (trainables.pipeline feeding the
   train step), over the same epoch fed pre-augmented views from memory.
3. Wall time of a small real study, over the sum of its trial times divided
   by the number of trials that run at once.
4. Epochs ASHA spends to reach within one point of the best grid accuracy,
   over the epochs of the full grid, by replaying Ray's ASHAScheduler on the
   per-epoch history of the study of figure 3.
5. Peak resident memory of one trial at each ResNet depth.

Each part runs in its own process: figures 1 and 2 in one pinned to the CPUs
of one trial, figure 3 as a `simclr-study run` command, figure 5 in one fresh
process per depth. The work folder keeps every part's JSON figures and log.
"""

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.machine import describe_machine

PARTS = ("steps", "study", "memory")
LOG_TAIL_CHARS = 3000

GOAL_SIMCLR_VS_SUPERVISED = 0.90  # at least
GOAL_LIVE_VS_MEMORY = 0.95  # at least
GOAL_STUDY_OVERHEAD = 1.15  # at most
GOAL_ASHA_EPOCHS = 0.35  # at most


def format_ratio(number, label, description, value, goal, at_least):
    """Return the line of one ratio: its number, what it compares, its value and its goal."""
    met = value >= goal if at_least else value <= goal
    relation = ">=" if at_least else "<="
    verdict = "met" if met and math.isfinite(value) else "NOT met"
    return f"ratio {number} ({label}): {description} = {value:.3f}   goal {relation} {goal:.2f}: {verdict}"


def run_steps(args, work_dir):
    """Run benchmarks.steps in a child process; return its figures."""
    output = work_dir / "steps.json"
    command = [sys.executable, "-m", "benchmarks.steps", "--cpus", str(args.cpus), "--output", str(output)]
    if args.smoke:
        command.append("--smoke")
    _run_child(command, work_dir / "steps.log")
    return json.loads(output.read_text())


def print_steps(figures):
    cpus = ",".join(str(cpu) for cpu in figures["cpus"])
    print(f"\nParts 1 and 2: train steps in one process pinned to CPU {cpus}, "
          f"TensorFlow sized for {len(figures['cpus'])} thread(s); medians over interleaved rounds")
    for result in figures["benchmarks"]:
        benchmark = result["benchmark"]
        batch = benchmark["batch_size"]
        print(f"  {benchmark['name']}: {benchmark['description']}, batch {batch} "
              f"({2 * batch} images per step), steps per epoch: {result['steps_per_epoch']}, "
              f"{benchmark['rounds']} rounds")
        rates = result["rates"]
        for name, meaning in (("memory", "SimCLR step, views from memory"),
                              ("supervised", "supervised step, same 2N images"),
                              ("live", "SimCLR step, live augmentation")):
            wall = ", ".join(f"{rate:.0f}" for rate in rates[name]["wall"])
            print(f"    {meaning:32s} images/s per round: {wall}")
    ratios = (
        (1, "simclr_vs_supervised", "SimCLR / supervised step throughput", "SimCLR", "supervised",
         GOAL_SIMCLR_VS_SUPERVISED),
        (2, "live_vs_memory", "live-augmentation / from-memory epoch throughput", "live", "memory",
         GOAL_LIVE_VS_MEMORY),
    )
    for number, key, description, numerator, denominator, goal in ratios:
        for result in figures["benchmarks"]:
            ratio = result[key]
            print(format_ratio(number, result["benchmark"]["name"], description, ratio["ratio"], goal,
                               at_least=True))
            _print_ratio_details(ratio, numerator, denominator)


def _print_ratio_details(figures, numerator, denominator):
    print(f"    {numerator} {figures['numerator_rate']:.0f} images/s, {denominator} "
          f"{figures['denominator_rate']:.0f} images/s; ratio range over {figures['rounds']} rounds "
          f"{figures['ratio_min']:.3f}-{figures['ratio_max']:.3f}; ratio of CPU-time "
          f"throughputs {figures['cpu_ratio']:.3f}")


def run_study(args, work_dir):
    """Run the study of figure 3 and replay ASHA on it for figure 4; return both figures."""
    from benchmarks.asha_replay import asha_savings
    from benchmarks.study_overhead import run_study as run_study_command
    from benchmarks.study_overhead import study_benchmark, study_overhead
    from study.results import read_history

    benchmark = study_benchmark(args.smoke)
    study_dir, started_at, wall_seconds = run_study_command(benchmark, work_dir)
    overhead = study_overhead(benchmark, study_dir, started_at, wall_seconds)
    savings = asha_savings(
        read_history(study_dir),
        benchmark.concurrency,
        benchmark.max_epochs,
        benchmark.replay_grace_period,
        benchmark.replay_reduction_factor,
        goal=GOAL_ASHA_EPOCHS,
    )
    figures = {"study_dir": str(study_dir), "overhead": overhead, "asha": savings,
               "benchmark": vars(benchmark)}
    (work_dir / "study.json").write_text(json.dumps(figures, indent=1, default=str))
    return figures


def print_study(figures):
    overhead, asha, benchmark = figures["overhead"], figures["asha"], figures["benchmark"]
    print(f"\nParts 3 and 4: `simclr-study run` of {overhead['trials']} trials on digits at "
          f"{benchmark['image_size']} px, {benchmark['max_epochs']} epochs each, "
          f"{overhead['concurrency']} at a time with 1 CPU each, no trial stopped early")
    print(f"    study wall time {overhead['wall_seconds']:.1f} s; trial times (summary.parquet "
          f"train_seconds) sum {overhead['trial_seconds_sum']:.1f} s, median "
          f"{overhead['trial_seconds_median']:.1f} s; sum / {overhead['concurrency']} = "
          f"{overhead['ideal_seconds']:.1f} s")
    if "before_first_trial_seconds" in overhead:
        print(f"    from result.json timestamps (1 s resolution): {overhead['before_first_trial_seconds']:.0f} s "
              f"before the first trial started, {overhead['trials_running_seconds']:.0f} s while trials ran, "
              f"{overhead['after_last_trial_seconds']:.0f} s after the last one ended")
    if "between_epochs_seconds" in overhead:
        print(f"    between two epochs' work (dataset, checkpoint, report): median "
              f"{overhead['between_epochs_seconds']:.3f} s, {overhead['between_epochs_share']:.1%} of an iteration")
    print(format_ratio(3, "study", "study wall time / (sum of trial times / concurrency)",
                       overhead["ratio"], GOAL_STUDY_OVERHEAD, at_least=False))
    print(f"    ASHA replayed with Ray's ASHAScheduler (grace period {asha['grace_period']}, "
          f"reduction factor {asha['reduction_factor']:g}) on the recorded per-epoch kNN accuracies "
          f"of the run above, trials in creation order, {overhead['concurrency']} at a time")
    reached = "reached" if asha["target_reached"] else "NOT reached; the ratio uses all ASHA epochs"
    print(f"    grid: {asha['grid_epochs']} epochs, best final kNN accuracy "
          f"{asha['grid_best_accuracy']:.4f}; ASHA: a trial run to the end within 1 point "
          f"(>= {asha['target_accuracy']:.4f}) {reached} after {asha['asha_epochs_to_target']} epochs; "
          f"{asha['asha_epochs_spent']} epochs in all, best final {asha['asha_best_final_accuracy']:.4f}, "
          f"{asha['asha_stopped_trials']} of {asha['trials']} trials stopped early")
    print(format_ratio(4, "asha", "ASHA epochs to within 1 point of the grid's best / grid epochs",
                       asha["ratio"], GOAL_ASHA_EPOCHS, at_least=False))
    spread = asha["random_orders"]
    print(f"    the same replay over {spread['orders']} random trial orders: median {spread['median']:.3f}, "
          f"10th-90th percentile {spread['p10']:.3f}-{spread['p90']:.3f}, "
          f"{spread['share_met']:.0%} of orders meet the goal")


def run_memory(args, work_dir):
    from benchmarks.memory import measure_all, memory_benchmark

    benchmark = memory_benchmark(args.smoke)
    figures = {"benchmark": vars(benchmark), "depths": measure_all(benchmark, args.cpus, work_dir)}
    (work_dir / "memory.json").write_text(json.dumps(figures, indent=1))
    return figures


def print_memory(figures):
    benchmark = figures["benchmark"]
    print(f"\nPart 5: peak RSS of one trial, one fresh process per depth: width "
          f"{benchmark['width']}, {benchmark['image_size']} px, batch {benchmark['batch_size']}, "
          f"{benchmark['steps']} live train steps")
    for depth in figures["depths"]:
        print(f"memory depth {depth['depth']}: peak RSS {depth['peak_rss_mib']:.0f} MiB "
              f"(RSS {depth['rss_before_models_mib']:.0f} MiB after imports, before the models; "
              f"after the steps {depth['rss_anon_after_steps_mib']:.0f} MiB anonymous, "
              f"{depth['rss_file_after_steps_mib']:.0f} MiB file-backed)")


def _run_child(command, log_file):
    with open(log_file, "w") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    if completed.returncode != 0:
        tail = Path(log_file).read_text()[-LOG_TAIL_CHARS:]
        raise RuntimeError(f"{' '.join(command)} exited with {completed.returncode}:\n{tail}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed",
        description="Measure the speed ratios and per-trial memory of simclr-study on this machine.",
    )
    parser.add_argument("--smoke", action="store_true",
                        help="run every part at the smallest size (about 1.5 minutes on 2 cores)")
    parser.add_argument("--cpus", type=int, default=1,
                        help="CPUs of one trial: parts 1 and 2 run pinned to this many (default 1, "
                             "as in the quick preset)")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated parts to run, from {', '.join(PARTS)} (default: all)")
    parser.add_argument("--work-dir",
                        help="folder for the study, logs and JSON figures; kept afterwards "
                             "(default: a temporary folder, removed afterwards)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}; choose from {', '.join(PARTS)}")
    if args.cpus < 1:
        parser.error(f"invalid --cpus {args.cpus}; give an integer >= 1")

    if args.work_dir:
        work_dir = Path(args.work_dir).expanduser().resolve()
        work_dir.mkdir(parents=True, exist_ok=True)
    else:
        work_dir = Path(tempfile.mkdtemp(prefix="simclr-speed-"))

    print(f"simclr-study speed benchmark ({'smoke' if args.smoke else 'full'} sizes) on "
          f"{describe_machine()}", flush=True)
    try:
        if "steps" in parts:
            print_steps(run_steps(args, work_dir))
            sys.stdout.flush()
        if "study" in parts:
            print_study(run_study(args, work_dir))
            sys.stdout.flush()
        if "memory" in parts:
            print_memory(run_memory(args, work_dir))
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        if not args.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
