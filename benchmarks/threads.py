"""Check that a trial's TensorFlow thread pools follow its CPUs, also in a reused Ray worker.

    python -m benchmarks.threads

Runs 4 trials of one CPU each, 2 at a time, on an embedded local Ray with
reused actors, so the last two trials run in the workers of the first two.
Each trial calls trainables.runtime.configure_runtime as the trainable does
and then multiplies matrices. It reports its worker's process id, TensorFlow's
pool sizes and the number of TensorFlow compute threads in its process. It
also reports its CPU time over wall time during the products, which is about
1.0 for one busy core.
"""

import collections
import logging
import os
import sys
import tempfile
import time

NUM_TRIALS = 4
CONCURRENT_TRIALS = 2
MATMUL_SIZE = 512
MATMUL_REPEATS = 100


def thread_names():
    """Count this process's threads by name (Linux /proc/self/task/*/comm)."""
    names = collections.Counter()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                names[comm.read().strip()] += 1
        except OSError:
            continue  # the thread ended after the listing
    return names


def probe_trial(config):
    """Size TensorFlow as a trial does, keep one core busy and report the pools and threads (a Tune trainable)."""
    from ray import tune

    from trainables.runtime import configure_runtime
    from trainables.trainable import _trial_cpus

    cpus = _trial_cpus()
    configure_runtime(cpus)
    import tensorflow as tf

    matrix = tf.random.normal([MATMUL_SIZE, MATMUL_SIZE]) / MATMUL_SIZE
    (matrix @ matrix).numpy()  # starts the pools before timing
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    product = matrix
    for _ in range(MATMUL_REPEATS):
        product = tf.tanh(product @ matrix)
    product.numpy()
    cpu_over_wall = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
    tune.report({
        "pid": os.getpid(),
        "cpus": cpus,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "compute_threads": thread_names()["tf_Compute"],
        "cpu_over_wall": cpu_over_wall,
    })


def run_trials():
    """Run the probe trials on a local Ray; return their last reports in trial order."""
    import ray
    from ray import tune

    ray.init(
        num_cpus=CONCURRENT_TRIALS,
        include_dashboard=False,
        dashboard_host="127.0.0.1",
        logging_level=logging.WARNING,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="simclr-threads-") as storage:
            tuner = tune.Tuner(
                tune.with_resources(probe_trial, {"cpu": 1}),
                param_space={"index": tune.grid_search(list(range(NUM_TRIALS)))},
                tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=CONCURRENT_TRIALS),
                run_config=tune.RunConfig(storage_path=storage, verbose=0),
            )
            results = tuner.fit()
            return [result.metrics for result in sorted(results, key=lambda r: r.config["index"])]
    finally:
        ray.shutdown()


def main():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    reports = run_trials()
    print("trial  worker pid  CPUs  intra-op  inter-op  tf_Compute threads  CPU time / wall time")
    for index, report in enumerate(reports):
        print(f"{index:5d}  {report['pid']:10d}  {report['cpus']:4d}  {report['intra_op_threads']:8d}  "
              f"{report['inter_op_threads']:8d}  {report['compute_threads']:18d}  "
              f"{report['cpu_over_wall']:20.2f}")
    workers = len({report["pid"] for report in reports})
    print(f"{len(reports)} trials ran in {workers} worker processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
