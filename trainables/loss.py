"""NT-Xent, the normalized temperature-scaled cross-entropy loss of SimCLR.

Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
Representations", equation (1): for a positive pair (i, j) among the 2N views
of a batch,

    l(i, j) = -log( exp(sim(z_i, z_j) / t) / sum_{k != i} exp(sim(z_i, z_k) / t) )

with sim the cosine similarity. The loss is the mean of l over all 2N anchors.
"""

import tensorflow as tf

# Added to each anchor's similarity with itself, so exp() of it is 0 in float32.
SELF_MASK = -1e9


def nt_xent_loss(z_a, z_b, temperature):
    """Compute the mean NT-Xent loss over the 2N anchors of two batches of views.

    Args:
        z_a: projections of the first views, shape (N, d).
        z_b: projections of the second views, shape (N, d); row i of z_b is a
            view of the same example as row i of z_a.
        temperature: positive float that divides the cosine similarities.

    Returns:
        A float32 scalar. The loss is computed in float32 whatever the input
        dtype, so mixed-precision projections keep a precise loss.
    """
    if not temperature > 0:
        raise ValueError(
            f"temperature must be > 0, received {temperature!r}; use e.g. 0.1 or 0.5"
        )
    z_a = tf.math.l2_normalize(tf.cast(z_a, tf.float32), axis=1)
    z_b = tf.math.l2_normalize(tf.cast(z_b, tf.float32), axis=1)
    n = tf.shape(z_a)[0]

    # Similarities of every view with every other view: (2N, 2N).
    z = tf.concat([z_a, z_b], axis=0)  # (2N, d)
    logits = tf.matmul(z, z, transpose_b=True) / temperature
    logits += SELF_MASK * tf.eye(2 * n, dtype=tf.float32)

    # The positive of anchor i is row i + N for i < N and row i - N otherwise.
    positives = tf.concat([tf.range(n, 2 * n), tf.range(0, n)], axis=0)  # (2N,)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=positives, logits=logits
    )
    return tf.reduce_mean(losses)
