"""Train-step throughput: SimCLR vs supervised, and live augmentation vs views from memory.

Runs in its own process (`python -m benchmarks.steps`), pinned to the CPUs
that one trial gets, and writes its figures as JSON. Three workloads are timed
in interleaved rounds over the same epoch of images:

- `live`: the trainable's compiled SimCLR train step fed by
  `trainables.pipeline.pretrain_dataset`, one new epoch per round, as a trial
  runs it.
- `memory`: the same train step fed pre-augmented views of one epoch that
  were computed before timing started.
- `supervised`: a cross-entropy classifier step (same encoder architecture
  plus one Dense layer, same optimizer and schedule) on the same 2N images
  per step.
"""

import argparse
import dataclasses
import json
import sys

from benchmarks.machine import pin_to_cpus
from benchmarks.trials import NUM_CLASSES, SEED, quick_digits, quick_trial_settings, random_splits

# Images per step are 2N for every workload: two views of N examples, or the
# same 2N images with labels.
NUM_VIEWS = 2


@dataclasses.dataclass(frozen=True)
class StepBenchmark:
    """One encoder and data size at which the step workloads are compared."""

    name: str
    description: str
    depth: int
    width: float
    image_size: int
    batch_size: int
    dataset: str  # "digits" (the quick preset's data) or "random" (uniform uint8 pixels)
    epoch_batches: int  # batches per timed epoch; None means the whole digits train split
    rounds: int


def step_benchmarks(smoke):
    """Return the configurations to measure: the quick preset's encoder and a full-width ResNet-18."""
    if smoke:
        return [
            StepBenchmark("quick", "ResNet-18 width 0.125, 16 px digits", 18, 0.125, 16, 128,
                          "digits", epoch_batches=2, rounds=2),
            StepBenchmark("resnet18-32px", "ResNet-18 width 1.0, 32 px random images", 18, 1.0, 32,
                          4, "random", epoch_batches=1, rounds=2),
        ]
    return [
        StepBenchmark("quick", "ResNet-18 width 0.125, 16 px digits", 18, 0.125, 16, 128,
                      "digits", epoch_batches=None, rounds=9),
        StepBenchmark("resnet18-32px", "ResNet-18 width 1.0, 32 px random images", 18, 1.0, 32,
                      32, "random", epoch_batches=2, rounds=4),
    ]


def load_splits(benchmark):
    """Digits at the benchmark's image size, or random uint8 images, one timed epoch's worth."""
    count = None if benchmark.epoch_batches is None else benchmark.epoch_batches * benchmark.batch_size
    if benchmark.dataset == "digits":
        return quick_digits(benchmark.image_size, count)
    return random_splits(count, benchmark.image_size)


def build_supervised_step(run, num_classes):
    """Return a compiled cross-entropy train step on a fresh copy of the trial's encoder.

    The step mirrors the trainable's SimCLR step: the same encoder architecture,
    optimizer, learning-rate schedule and XLA setting, with one Dense layer
    in place of the projection head and NT-Xent.
    """
    import keras
    import tensorflow as tf

    from trainables.optim import build_optimizer
    from trainables.resnet import feature_dim

    settings = run.settings
    encoder = run._build_encoder()
    classifier = keras.layers.Dense(num_classes, name="classifier")
    classifier.build((None, feature_dim(settings.depth, settings.width)))
    optimizer = build_optimizer(
        settings.optimizer, run.schedule, settings.momentum, settings.weight_decay
    )
    variables = encoder.trainable_variables + classifier.trainable_variables
    optimizer.build(variables)

    @tf.function(jit_compile=settings.xla)
    def supervised_step(images, labels):
        with tf.GradientTape() as tape:
            logits = classifier(encoder(images, training=True), training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            )
        gradients = tape.gradient(loss, variables)
        optimizer.apply(gradients, variables)
        return loss

    return supervised_step


def measure(benchmark):
    """Time the live, memory and supervised workloads; return the figures as a dict."""
    import numpy as np
    import tensorflow as tf

    from benchmarks.timing import interleaved_rates, paired_ratio
    from trainables.pipeline import pretrain_dataset
    from trainables.trainable import _Pretraining

    settings = quick_trial_settings(benchmark.depth, benchmark.width, benchmark.batch_size)
    splits = load_splits(benchmark)
    run = _Pretraining(settings, splits, mixed=False)

    # Building the cached epoch also compiles the augmentation, so no timed
    # round pays for that.
    cached_views = list(
        pretrain_dataset(splits.x_train, settings.batch_size, 0, settings.seed, run.augment)
    )
    images_per_epoch = NUM_VIEWS * sum(int(view_a.shape[0]) for view_a, _ in cached_views)
    rng = np.random.default_rng(SEED)
    supervised_batches = [
        (tf.concat([view_a, view_b], axis=0),
         tf.constant(rng.integers(0, NUM_CLASSES, size=NUM_VIEWS * int(view_a.shape[0])), tf.int32))
        for view_a, view_b in cached_views
    ]
    supervised_step = build_supervised_step(run, NUM_CLASSES)
    next_epoch = iter(range(1, 10**6))

    def live_epoch():
        dataset = pretrain_dataset(
            splits.x_train, settings.batch_size, next(next_epoch), settings.seed, run.augment
        )
        images = 0
        for view_a, view_b in dataset:
            loss = run.train_step(view_a, view_b)
            images += NUM_VIEWS * int(view_a.shape[0])
        loss.numpy()
        return images

    def memory_epoch():
        for view_a, view_b in cached_views:
            loss = run.train_step(view_a, view_b)
        loss.numpy()
        return images_per_epoch

    def supervised_epoch():
        for images, labels in supervised_batches:
            loss = supervised_step(images, labels)
        loss.numpy()
        return images_per_epoch

    workloads = {"live": live_epoch, "memory": memory_epoch, "supervised": supervised_epoch}
    for workload in workloads.values():
        workload()  # traces the steps and warms the pipeline
    rates = interleaved_rates(workloads, benchmark.rounds)
    return {
        "benchmark": dataclasses.asdict(benchmark),
        "steps_per_epoch": len(cached_views),
        "images_per_epoch": images_per_epoch,
        "rates": rates,
        "simclr_vs_supervised": paired_ratio(rates, "memory", "supervised"),
        "live_vs_memory": paired_ratio(rates, "live", "memory"),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--benchmark", action="append", help="name of a configuration of step_benchmarks(); default: all"
    )
    parser.add_argument("--smoke", action="store_true", help="use the smallest sizes")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs to pin this process to and size TensorFlow for")
    parser.add_argument("--output", required=True, help="JSON file that receives the figures")
    args = parser.parse_args(argv)

    benchmarks = {benchmark.name: benchmark for benchmark in step_benchmarks(args.smoke)}
    names = args.benchmark or list(benchmarks)
    unknown = [name for name in names if name not in benchmarks]
    if unknown:
        parser.error(f"unknown --benchmark {unknown[0]!r}; choose from {', '.join(benchmarks)}")
    cpus = pin_to_cpus(args.cpus)

    from trainables.runtime import configure_runtime

    configure_runtime(len(cpus))
    figures = {"cpus": cpus, "benchmarks": [measure(benchmarks[name]) for name in names]}
    with open(args.output, "w") as output:
        json.dump(figures, output, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
