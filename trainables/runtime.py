"""TensorFlow process settings a trial applies before it builds anything."""

import logging

import tensorflow as tf

logger = logging.getLogger(__name__)


def configure_runtime(cpus):
    """Size TensorFlow's thread pools to `cpus` and let GPU memory grow; return True on a GPU.

    Ray sets OMP_NUM_THREADS=1 in its workers, but TensorFlow sizes its own
    pools to the whole machine, so concurrent trials would oversubscribe cores.
    A reused worker has already initialized TensorFlow with the same sizes,
    which TensorFlow reports as a RuntimeError that is safe to skip.
    """
    gpus = tf.config.list_physical_devices("GPU")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(min(cpus, 2))
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError as error:
        logger.debug("TensorFlow runtime already initialized: %s", error)
    return bool(gpus)
