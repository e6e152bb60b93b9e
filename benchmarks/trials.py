"""Trial settings and data that the benchmarks share."""

import numpy as np

SEED = 0
NUM_CLASSES = 10
# The validation and test splits of random data are never used, but Splits needs them.
UNUSED_SPLIT_SIZE = 2


def quick_trial_settings(depth, width, batch_size):
    """Return the quick preset's trial settings with the given encoder and batch size."""
    from study.config import read_preset
    from trainables.settings import TrialSettings

    preset = read_preset("quick")
    fixed = dict(preset["trial"])
    fixed.update(
        dataset="digits",
        depth=depth,
        width=width,
        batch_size=batch_size,
        temperature=0.5,
        learning_rate=0.2,
        max_epochs=preset["max_epochs"],
        seed=SEED,
    )
    return TrialSettings.from_config(fixed)


def quick_digits(image_size, count=None):
    """Load the quick preset's digits splits at `image_size`, the train split cut to `count` images."""
    import dataclasses

    from study.config import read_preset
    from trainables.data import load_dataset

    preset = read_preset("quick")
    splits = load_dataset(
        "digits",
        image_size=image_size,
        seed=SEED,
        val_fraction=preset["val_fraction"],
        test_fraction=preset["test_fraction"],
    )
    if count is None:
        return splits
    return dataclasses.replace(splits, x_train=splits.x_train[:count], y_train=splits.y_train[:count])


def random_splits(count, image_size):
    """Return Splits whose train part is `count` uniform random uint8 images with random labels."""
    from trainables.data import Splits

    rng = np.random.default_rng(SEED)
    x = rng.integers(0, 256, size=(count, image_size, image_size, 3), dtype=np.uint8)
    y = rng.integers(0, NUM_CLASSES, size=count).astype(np.int64)
    unused_x, unused_y = x[:UNUSED_SPLIT_SIZE], y[:UNUSED_SPLIT_SIZE]
    return Splits(x, y, unused_x, unused_y, unused_x, unused_y)
