"""tf.data input pipelines: augmented view pairs for pretraining, plain batches for evaluation.

Both pipelines take the whole data set as one uint8 NumPy array (N, H, W, 3),
gather batches of indices from it and convert each batch to float32 in [0, 1].
"""

import numbers
from typing import Optional

import numpy as np
import tensorflow as tf

from trainables.augment import AugmentConfig, augment_batch

NUM_VIEWS = 2
PIXEL_SCALE = 255.0
INT64_MAX = np.iinfo(np.int64).max  # seed and epoch become the int64 stateless key


def pretrain_dataset(
    images,
    batch_size,
    epoch,
    seed,
    augment: Optional[AugmentConfig],
    drop_remainder: Optional[bool] = None,
    jit_compile: bool = True,
):
    """Build one epoch of SimCLR view pairs.

    The shuffle order is a function of (seed, epoch), and each batch's two
    views use their own stateless seeds derived from (seed, epoch, batch index,
    view index). So every epoch draws new crops and colours, and the same
    (seed, epoch) yields the same batches bit for bit on the same TensorFlow
    and NumPy versions and device, also when the dataset is iterated again.

    Each call traces the augmentation graph anew, which took about a second on
    a 2-core CPU. Calls with the same config and batch shape reuse the XLA
    program compiled by the first one.

    Args:
        images: uint8 NumPy array (N, H, W, 3).
        batch_size: images per batch, >= 1.
        epoch: epoch number, >= 0.
        seed: run seed, >= 0.
        augment: augmentation parameters, `AugmentConfig()` when None.
        drop_remainder: drop the last incomplete batch. None means True when
            N >= batch_size, so every batch has batch_size images, and False
            otherwise, so a data set smaller than one batch still yields one.
        jit_compile: passed to `augment_batch`, which documents its cost.

    Returns:
        tf.data.Dataset of (view_a, view_b), each float32 (B, H, W, 3) in [0, 1].
    """
    images = _validate_images(images)
    batch_size = _validate_integer("batch_size", batch_size, minimum=1)
    epoch = _validate_integer("epoch", epoch, minimum=0, maximum=INT64_MAX)
    seed = _validate_integer("seed", seed, minimum=0, maximum=INT64_MAX)
    augment = AugmentConfig() if augment is None else augment
    if not isinstance(augment, AugmentConfig):
        raise TypeError(f"augment must be an AugmentConfig or None, got {type(augment).__name__}")

    num_images = len(images)
    if drop_remainder is None:
        drop_remainder = num_images >= batch_size
    if drop_remainder and num_images < batch_size:
        raise ValueError(
            f"drop_remainder=True with {num_images} images and batch_size={batch_size} "
            "yields no batch; pass drop_remainder=False or a smaller batch_size"
        )

    order = np.random.default_rng([seed, epoch]).permutation(num_images)
    epoch_key = tf.constant([seed, epoch], dtype=tf.int64)
    pixels = tf.constant(images)  # uint8 (N, H, W, 3)

    # make_views has no Python control flow on tensors, so AutoGraph
    # conversion would only slow down tracing.
    @tf.autograph.experimental.do_not_convert
    def make_views(batch_index, indices):
        batch = _to_float(tf.gather(pixels, indices))  # (B, H, W, 3)
        batch_key = tf.random.experimental.stateless_fold_in(epoch_key, batch_index)
        views = []
        for view_index in range(NUM_VIEWS):
            view_key = tf.random.experimental.stateless_fold_in(
                batch_key, tf.constant(view_index, tf.int64)
            )
            views.append(augment_batch(batch, view_key, augment, jit_compile=jit_compile))
        return tuple(views)

    dataset = tf.data.Dataset.from_tensor_slices(order)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).enumerate()
    dataset = dataset.map(make_views, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def eval_dataset(images, batch_size):
    """Build un-augmented float32 batches (B, H, W, 3) in [0, 1], in input order.

    The last batch contains the remainder, so the batches cover all N images once.
    """
    images = _validate_images(images)
    batch_size = _validate_integer("batch_size", batch_size, minimum=1)
    pixels = tf.constant(images)  # uint8 (N, H, W, 3)

    dataset = tf.data.Dataset.range(len(images)).batch(batch_size)
    dataset = dataset.map(
        lambda indices: _to_float(tf.gather(pixels, indices)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _to_float(batch):
    """Convert uint8 pixels to float32 in [0, 1]."""
    return tf.cast(batch, tf.float32) / PIXEL_SCALE


def _validate_images(images):
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"expected uint8 RGB images of shape (N, H, W, 3), "
            f"got dtype {images.dtype} and shape {images.shape}"
        )
    if len(images) == 0:
        raise ValueError("expected at least one image, got an empty array")
    return images


def _validate_integer(name, value, minimum, maximum=None):
    accepted = f"expected an integer >= {minimum}"
    if maximum is not None:
        accepted += f" and <= {maximum}"
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"invalid {name}={value!r}: {accepted}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"invalid {name}={value!r}: {accepted}")
    return int(value)
