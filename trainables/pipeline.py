"""tf.data input pipelines: augmented view pairs for pretraining, plain batches for evaluation.

Both pipelines take the whole data set as one uint8 NumPy array (N, H, W, 3),
gather batches of indices from it and convert each batch to float32 in [0, 1].
"""

import functools
import numbers
import weakref
from typing import Optional

import numpy as np
import tensorflow as tf

from trainables.augment import AugmentConfig, augment_batch

NUM_VIEWS = 2
PIXEL_SCALE = 255.0
INT64_MAX = np.iinfo(np.int64).max  # seed and epoch become the int64 stateless key
# id(array) -> (weak reference to the array, its tensor); see _pixels_tensor.
_PIXELS = {}


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

    The first call for an augmentation config traces the augmentation and
    compiles its XLA program (a few seconds on CPU). Later calls with the same
    config and image shape reuse both: a new epoch of the quick preset cost
    about 45 ms on one CPU core, 27 ms of it augmentation (TensorFlow 2.21).

    The augmentation runs in a `tf.py_function`, so the dataset works only in
    the Python process that built it: it cannot be serialized, for example for
    the tf.data service.

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
    num_batches = num_images // batch_size if drop_remainder else -(-num_images // batch_size)
    epoch_key = tf.constant([seed, epoch], dtype=tf.int64)
    pixels = _pixels_tensor(images)  # uint8 (N, H, W, 3)
    make_views = _view_pair_function(augment, jit_compile)
    view_shape = (batch_size if drop_remainder else None, *images.shape[1:])

    # tf.data maps over batch numbers only and each call slices its indices
    # here, which halved the time to build an epoch's dataset (15 to 8 ms).
    def make_views_eagerly(batch_index):
        start = int(batch_index) * batch_size
        indices = order[start:start + batch_size]
        # Pinned to the CPU, where tf.data would run a map function, so that a
        # GPU trial keeps its accelerator for the train step.
        with tf.device("/CPU:0"):
            return make_views(pixels, epoch_key, batch_index, indices)

    @tf.autograph.experimental.do_not_convert
    def make_batch_views(batch_index):
        views = tf.py_function(make_views_eagerly, [batch_index], [tf.float32] * NUM_VIEWS)
        for view in views:
            view.set_shape(view_shape)
        return tuple(views)

    dataset = tf.data.Dataset.range(num_batches)
    dataset = dataset.map(make_batch_views, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _without_per_iterator_setup(dataset.prefetch(tf.data.AUTOTUNE))


def _pixels_tensor(images):
    """Return `images` as a tensor, the same one for every call with the same array.

    With a new tensor per call, resident memory grew after every epoch even
    once the old datasets were deleted (TensorFlow 2.21). It grew by about
    10 MB per fully iterated epoch over a 60 MB array, and by the whole 60 MB
    when an iteration stopped early. Reusing one tensor kept it flat, and
    saves copying the data set every epoch.
    NOTE: an array changed in place after the first call keeps its old pixels
    here; pass a new array instead.
    """
    key = id(images)
    cached = _PIXELS.get(key)
    if cached is not None and cached[0]() is images:
        return cached[1]
    # The entry goes when the array is freed, before another array can get its id.
    array_ref = weakref.ref(images, lambda _: _PIXELS.pop(key, None))
    tensor = tf.constant(images)
    _PIXELS[key] = (array_ref, tensor)
    return tensor


def _without_per_iterator_setup(dataset):
    """Turn off tf.data's autotuning and static graph rewrites, which run for every iterator.

    A new iterator (one per epoch) with both on took about 70 ms on one CPU
    core for the quick preset, and about 280 ms when the map function captures
    a CIFAR-10-sized uint8 array, which the rewrite serializes (TensorFlow
    2.21). Without them it takes a few milliseconds. AUTOTUNE parallelism then
    keeps its starting value, the size of the thread pool that runs the map
    calls, but at most 16. The rewrites would not change these pipelines: a
    batch followed by a map, then a prefetch.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    return dataset.with_options(options)


@functools.lru_cache(maxsize=16)
def _view_pair_function(augment, jit_compile):
    """Return a tf.function that draws both views of one batch, for one augmentation config.

    pretrain_dataset calls it eagerly from a tf.py_function rather than
    tracing the augmentation into its map function. tf.data traces a map
    function for every new dataset, and instantiates and optimizes it with
    Grappler for every new iterator, so once per epoch. That took 0.6 s per
    epoch on one CPU core for the quick preset (TensorFlow 2.21), ten times
    the augmentation itself. An eager call reuses the trace and the XLA
    program of the first epoch.
    """

    # make_views has no Python control flow on tensors, so AutoGraph
    # conversion would only slow down tracing.
    @tf.function(autograph=False)
    def make_views(pixels, epoch_key, batch_index, indices):
        batch = _to_float(tf.gather(pixels, indices))  # (B, H, W, 3)
        batch_key = tf.random.experimental.stateless_fold_in(epoch_key, batch_index)
        views = []
        for view_index in range(NUM_VIEWS):
            view_key = tf.random.experimental.stateless_fold_in(
                batch_key, tf.constant(view_index, tf.int64)
            )
            views.append(augment_batch(batch, view_key, augment, jit_compile=jit_compile))
        return tuple(views)

    return make_views


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
    return _without_per_iterator_setup(dataset.prefetch(tf.data.AUTOTUNE))


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
