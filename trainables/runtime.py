"""TensorFlow process settings a trial applies before it builds anything."""

import logging

import tensorflow as tf

logger = logging.getLogger(__name__)


def configure_runtime(cpus):
    """Size TensorFlow's thread pools to `cpus` and let GPU memory grow; return True on a GPU.

    Ray sets OMP_NUM_THREADS=1 in its workers, but TensorFlow sizes its own
    pools to the whole machine, so concurrent trials would oversubscribe cores.
    The sizes take effect only before TensorFlow initializes. In a worker that
    Ray reuses for another trial they are already set by the first trial:
    with one CPU per trial, a reused worker kept one compute thread (Ray 2.60,
    TensorFlow 2.21). A trial with another CPU count cannot change them, so
    that case logs a warning.
    """
    gpus = tf.config.list_physical_devices("GPU")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(min(cpus, 2))
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError as error:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != cpus:
            logger.warning(
                "TensorFlow is already initialized with %d intra-op threads, for "
                "example by an earlier trial in a reused worker, and keeps them "
                "although this trial has %d CPUs: %s", current, cpus, error
            )
        else:
            logger.debug("TensorFlow runtime already initialized: %s", error)
    return bool(gpus)
