"""Peak resident memory of one trial per ResNet depth, each in a fresh process.

`python -m benchmarks.memory --depth D ...` builds the trainable's models and
compiled train step for depth D, runs a few train steps fed by the live
augmentation pipeline, and writes its peak resident set size (ru_maxrss) as
JSON. The parent runs one such process per depth.
"""

import argparse
import concurrent.futures
import dataclasses
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

KIB_PER_MIB = 1024
LOG_TAIL_CHARS = 3000


@dataclasses.dataclass(frozen=True)
class MemoryBenchmark:
    """Depths to measure and the trial size each one runs at."""

    depths: tuple
    width: float
    image_size: int
    batch_size: int
    steps: int


def memory_benchmark(smoke):
    """Return the quick preset's encoder width, image size and batch size at every depth.

    --smoke measures depths 18 and 50 only.
    """
    depths = (18, 50) if smoke else (18, 34, 50, 101, 152)
    return MemoryBenchmark(depths, width=0.125, image_size=16, batch_size=128, steps=2 if smoke else 3)


def status_mib(field):
    """Read a memory field of /proc/self/status (VmRSS, RssAnon, RssFile, ...) in MiB, NaN if absent."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / KIB_PER_MIB
    return float("nan")


def peak_rss_mib():
    """Return the peak resident set size of this process so far, in MiB.

    Linux reports ru_maxrss in KiB.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB


def measure_depth(depth, benchmark, cpus):
    """Build one trial's models for `depth`, run a few live train steps; return RSS figures."""
    from benchmarks.trials import quick_trial_settings, random_splits
    from trainables.pipeline import pretrain_dataset
    from trainables.runtime import configure_runtime
    from trainables.trainable import _Pretraining

    configure_runtime(cpus)
    rss_before_models = status_mib("VmRSS")
    settings = quick_trial_settings(depth, benchmark.width, benchmark.batch_size)
    splits = random_splits(benchmark.steps * benchmark.batch_size, benchmark.image_size)
    run = _Pretraining(settings, splits, mixed=False)
    dataset = pretrain_dataset(splits.x_train, benchmark.batch_size, 0, settings.seed, run.augment)
    for view_a, view_b in dataset:
        loss = run.train_step(view_a, view_b)
    loss.numpy()
    # RssFile is mostly TensorFlow's shared libraries, which concurrent trials
    # on one machine share. RssAnon is this trial's own memory.
    return {
        "depth": depth,
        "rss_before_models_mib": rss_before_models,
        "rss_after_steps_mib": status_mib("VmRSS"),
        "rss_anon_after_steps_mib": status_mib("RssAnon"),
        "rss_file_after_steps_mib": status_mib("RssFile"),
        "peak_rss_mib": peak_rss_mib(),
    }


def measure_all(benchmark, cpus, work_dir, parallel=2):
    """Run one fresh process per depth, `parallel` at a time; return their figures in depth order.

    Peak RSS is per process, so processes that run side by side do not
    change each other's figure.

    Raises:
        RuntimeError: when a process fails, with the tail of its output.
    """
    work_dir = Path(work_dir)

    def run_depth(depth):
        output = work_dir / f"memory-depth{depth}.json"
        log_file = work_dir / f"memory-depth{depth}.log"
        command = [
            sys.executable, "-m", "benchmarks.memory", "--depth", str(depth),
            "--width", str(benchmark.width), "--image-size", str(benchmark.image_size),
            "--batch-size", str(benchmark.batch_size), "--steps", str(benchmark.steps),
            "--cpus", str(cpus), "--output", str(output),
        ]
        with open(log_file, "w") as log:
            completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
        if completed.returncode != 0:
            tail = log_file.read_text()[-LOG_TAIL_CHARS:]
            raise RuntimeError(f"{' '.join(command)} exited with {completed.returncode}:\n{tail}")
        return json.loads(output.read_text())

    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(run_depth, benchmark.depths))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Peak RSS of one trial at one ResNet depth.")
    parser.add_argument("--depth", type=int, required=True, help="ResNet depth: 18, 34, 50, 101 or 152")
    parser.add_argument("--width", type=float, required=True, help="encoder width multiplier")
    parser.add_argument("--image-size", type=int, required=True, help="image side in pixels")
    parser.add_argument("--batch-size", type=int, required=True, help="examples per step")
    parser.add_argument("--steps", type=int, required=True, help="train steps to run")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs to size TensorFlow's thread pools for")
    parser.add_argument("--output", required=True, help="JSON file that receives the figures")
    args = parser.parse_args(argv)

    benchmark = MemoryBenchmark((args.depth,), args.width, args.image_size, args.batch_size, args.steps)
    figures = measure_depth(args.depth, benchmark, args.cpus)
    figures.update(dataclasses.asdict(benchmark), pid=os.getpid())
    Path(args.output).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
