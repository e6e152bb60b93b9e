"""Images per second and model FLOP utilization of the SimCLR train step on a GPU.

    python -m benchmarks.gpu                       # ResNet-50, 32 px, batch 512
    python -m benchmarks.gpu --xla --peak-tflops 989
    python -m benchmarks.gpu --smoke               # tiny sizes; runs on a CPU too

Times the trainable's own compiled train step, 2N images per step, with mixed
precision on a GPU as in a trial. The step is fed two ways: one pre-augmented
batch from memory, and one epoch from the live pipeline, which augments in
tf.data on the host. Model FLOP utilization is the train step's FLOPs per second over the
device's peak: forward FLOPs of encoder and projection head counted from
their layers, times 3 for the backward pass.
"""

import argparse
import dataclasses
import json
import os
import sys
import time

from benchmarks.machine import describe_machine
from benchmarks.trials import quick_trial_settings, random_splits

# Dense FP16/BF16 tensor-core peak of the SXM board, from NVIDIA's published
# specifications; pass --peak-tflops for any other device.
PEAK_TFLOPS = {"H200": 989.4}


@dataclasses.dataclass(frozen=True)
class GpuBenchmark:
    """The encoder and batch of the measurement, and how long to time it."""

    depth: int
    width: float
    image_size: int
    batch_size: int
    warmup_steps: int
    timed_steps: int


def gpu_benchmark(args):
    """Return the sizes to measure: ResNet-50 at 32 px and batch 512, or tiny ones for --smoke."""
    if args.smoke:
        return GpuBenchmark(depth=18, width=0.125, image_size=16, batch_size=16, warmup_steps=1, timed_steps=2)
    return GpuBenchmark(depth=args.depth, width=1.0, image_size=args.image_size,
                        batch_size=args.batch_size, warmup_steps=5, timed_steps=args.steps)


def peak_tflops(device_name, override):
    """Return (peak TFLOP/s, where it came from), or (None, reason) when it is unknown."""
    if override is not None:
        return override, "--peak-tflops"
    for model, peak in PEAK_TFLOPS.items():
        if model in device_name and "NVL" not in device_name:
            return peak, f"{model} SXM specification, dense FP16/BF16"
    return None, f"peak unknown for {device_name!r}; pass --peak-tflops"


def measure(benchmark, xla, mixed):
    """Time the train step from memory and from the live pipeline; return the figures."""
    import keras
    import tensorflow as tf

    from benchmarks.flops import TRAIN_STEP_FACTOR, forward_flops
    from trainables.pipeline import pretrain_dataset
    from trainables.runtime import configure_runtime
    from trainables.trainable import _Pretraining

    has_gpu = configure_runtime(os.cpu_count() or 1)
    mixed = has_gpu if mixed is None else mixed
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    settings = dataclasses.replace(
        quick_trial_settings(benchmark.depth, benchmark.width, benchmark.batch_size), xla=xla
    )
    splits = random_splits(benchmark.batch_size * benchmark.timed_steps, benchmark.image_size)
    run = _Pretraining(settings, splits, mixed)

    def live_epoch(epoch):
        steps, loss = 0, None
        for view_a, view_b in pretrain_dataset(splits.x_train, settings.batch_size, epoch, settings.seed,
                                               run.augment):
            loss = run.train_step(view_a, view_b)
            steps += 1
        float(loss)  # waits for the device
        return steps

    view_a, view_b = next(iter(pretrain_dataset(splits.x_train, settings.batch_size, 0, settings.seed,
                                                run.augment)))

    def memory_steps(count):
        loss = None
        for _ in range(count):
            loss = run.train_step(view_a, view_b)
        float(loss)
        return count

    memory_steps(benchmark.warmup_steps)
    live_epoch(0)
    images_per_step = 2 * benchmark.batch_size
    start = time.perf_counter()
    memory_steps(benchmark.timed_steps)
    memory_rate = benchmark.timed_steps * images_per_step / (time.perf_counter() - start)
    start = time.perf_counter()
    live_rate = live_epoch(1) * images_per_step / (time.perf_counter() - start)

    flops_per_image = TRAIN_STEP_FACTOR * (forward_flops(run.encoder) + forward_flops(run.head))
    device = "CPU"
    if has_gpu:
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        device = details.get("device_name", "GPU")
    return {
        "benchmark": dataclasses.asdict(benchmark),
        "device": device,
        "mixed_precision": mixed,
        "xla": xla,
        "train_flops_per_image": flops_per_image,
        "memory_images_per_second": memory_rate,
        "live_images_per_second": live_rate,
    }


def print_figures(figures, peak_override):
    benchmark = figures["benchmark"]
    print(f"Train step on {figures['device']}: ResNet-{benchmark['depth']} width {benchmark['width']}, "
          f"{benchmark['image_size']} px, batch {benchmark['batch_size']} ({2 * benchmark['batch_size']} images "
          f"per step), mixed precision {'on' if figures['mixed_precision'] else 'off'}, "
          f"XLA {'on' if figures['xla'] else 'off'}, {benchmark['timed_steps']} timed steps")
    gflops = figures["train_flops_per_image"] / 1e9
    print(f"    train-step FLOPs per image (3 x forward, encoder and projection head): {gflops:.3f} GFLOP; "
          f"memory: one pre-augmented batch, live: the augmentation pipeline")
    peak, source = peak_tflops(figures["device"], peak_override)
    for name, key in (("memory", "memory_images_per_second"), ("live", "live_images_per_second")):
        rate = figures[key]
        achieved = rate * figures["train_flops_per_image"] / 1e12
        utilization = f"{achieved / peak:.1%} of {peak:g} TFLOP/s ({source})" if peak else f"n/a ({source})"
        print(f"step {name}: {rate:.0f} images/s, {achieved:.3f} TFLOP/s, "
              f"model FLOP utilization {utilization}")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=50, help="ResNet depth (default 50)")
    parser.add_argument("--image-size", type=int, default=32, help="image side in pixels (default 32)")
    parser.add_argument("--batch-size", type=int, default=512, help="examples per step (default 512)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    parser.add_argument("--xla", action="store_true", help="compile the train step with XLA")
    parser.add_argument("--no-mixed-precision", action="store_true", help="train in float32 on the GPU too")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s at the step's precision")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, also on a machine without a GPU")
    parser.add_argument("--output", help="also write the figures to this JSON file")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("depth", "image_size", "batch_size", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"invalid --{name.replace('_', '-')} {getattr(args, name)}; give an integer >= 1")
    if args.peak_tflops is not None and not args.peak_tflops > 0:
        parser.error(f"invalid --peak-tflops {args.peak_tflops}; give the device's peak as a number > 0")
    if args.output and not os.path.isdir(os.path.dirname(os.path.abspath(args.output))):
        parser.error(f"invalid --output {args.output}; its folder does not exist, so create it first")
    from trainables.settings import DEPTHS

    if args.depth not in DEPTHS:
        parser.error(f"invalid --depth {args.depth}; choose from {', '.join(map(str, DEPTHS))}")
    import tensorflow as tf

    if not args.smoke and not tf.config.list_physical_devices("GPU"):
        print("no GPU visible to TensorFlow; run this on a GPU machine, or pass --smoke to try it on CPU",
              file=sys.stderr)
        return 1
    print(f"simclr-study GPU benchmark on {describe_machine()}", flush=True)
    figures = measure(gpu_benchmark(args), args.xla, False if args.no_mixed_precision else None)
    print_figures(figures, args.peak_tflops)
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(figures, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
