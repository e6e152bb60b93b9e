"""Evaluation of a frozen encoder: feature extraction, kNN monitor, linear probe.

Features are always the encoder output (before the projection head) of
un-augmented images, computed in inference mode, so batch-norm layers use and
keep their moving statistics and repeated calls return identical features.
"""

import weakref

import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# Queries scored against the training features at once by the kNN monitor.
KNN_CHUNK = 1024
PROBE_MAX_ITER = 1000
_FORWARDS = weakref.WeakKeyDictionary()


def extract_features(encoder, images, batch_size=256):
    """Return float32 encoder features (N, feature_dim) of uint8 images (N, H, W, 3)."""
    forward = _compiled_forward(encoder, images.shape[1:])
    parts = [
        forward(tf.constant(images[start : start + batch_size])).numpy()
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts, axis=0).astype(np.float32)


def _compiled_forward(encoder, image_shape):
    """One traced inference function per encoder, reused by every later call."""
    forward = _FORWARDS.get(encoder)
    if forward is None:

        @tf.function(input_signature=[tf.TensorSpec((None, *image_shape), tf.uint8)])
        def forward(batch):
            return encoder(tf.cast(batch, tf.float32) / 255.0, training=False)

        _FORWARDS[encoder] = forward
    return forward


def knn_accuracy(train_features, train_labels, query_features, query_labels, k=20, temperature=0.1):
    """Classify each query by a weighted vote of its k nearest training features.

    Neighbours are ranked by cosine similarity s and vote for their label with
    weight exp(s / temperature), the monitor of Wu et al. 2018 ("Unsupervised
    Feature Learning via Non-Parametric Instance Discrimination"). k is capped
    at the number of training features.

    Returns:
        The fraction of queries whose predicted label is correct, in [0, 1].
    """
    train = _l2_normalize(train_features)
    query = _l2_normalize(query_features)
    k = min(k, len(train))
    num_classes = int(max(train_labels.max(), query_labels.max())) + 1
    correct = 0
    for start in range(0, len(query), KNN_CHUNK):
        similarity = query[start : start + KNN_CHUNK] @ train.T  # (chunk, N_train)
        neighbours = np.argpartition(-similarity, k - 1, axis=1)[:, :k]  # (chunk, k)
        # exp((s - 1) / t) ranks votes as exp(s / t) does but cannot overflow, since s <= 1.
        weights = np.exp((np.take_along_axis(similarity, neighbours, axis=1) - 1.0) / temperature)
        votes = np.zeros((len(similarity), num_classes))
        np.add.at(votes, (np.arange(len(similarity))[:, None], train_labels[neighbours]), weights)
        correct += int((votes.argmax(axis=1) == query_labels[start : start + KNN_CHUNK]).sum())
    return correct / len(query)


def linear_probe_accuracy(train_features, train_labels, test_features, test_labels, c=1.0, seed=0):
    """Fit an L2-regularized logistic regression on standardized features; return test accuracy.

    c is the inverse regularization strength of scikit-learn's LogisticRegression.
    """
    probe = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=c, max_iter=PROBE_MAX_ITER, random_state=seed),
    )
    probe.fit(train_features, train_labels)
    return float(probe.score(test_features, test_labels))


def _l2_normalize(features):
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)
