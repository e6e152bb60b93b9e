"""Frozen-encoder evaluation: deterministic features, kNN against a loop, probe leaves BN alone."""

import numpy as np
import pytest

from trainables import evaluate
from trainables.data import load_dataset
from trainables.resnet import build_encoder


def reference_knn(train, train_labels, query, query_labels, k, temperature):
    """One query at a time: cosine similarity, k largest, exp(s / t) weighted vote."""
    correct = 0
    for vector, label in zip(query, query_labels):
        similarity = [
            float(vector @ other / (np.linalg.norm(vector) * np.linalg.norm(other))) for other in train
        ]
        order = sorted(range(len(train)), key=lambda i: -similarity[i])[:k]
        votes = {}
        for i in order:
            votes[train_labels[i]] = votes.get(train_labels[i], 0.0) + np.exp(similarity[i] / temperature)
        correct += max(votes, key=votes.get) == label
    return correct / len(query)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", image_size=8, seed=0)


@pytest.fixture(scope="module")
def encoder():
    return build_encoder(18, width=0.125, small_stem=True, input_shape=(8, 8, 3))


@pytest.mark.parametrize("k,temperature", [(1, 0.1), (5, 0.1), (20, 0.5)])
def test_knn_matches_reference_loop(k, temperature):
    rng = np.random.default_rng(k)
    train = rng.normal(size=(60, 6)).astype(np.float32)
    query = rng.normal(size=(25, 6)).astype(np.float32)
    train_labels = rng.integers(0, 3, size=60)
    query_labels = rng.integers(0, 3, size=25)
    expected = reference_knn(train, train_labels, query, query_labels, k, temperature)
    actual = evaluate.knn_accuracy(train, train_labels, query, query_labels, k, temperature)
    assert actual == pytest.approx(expected)


def test_knn_perfect_on_separated_clusters():
    train = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    query = np.array([[1, 0.05], [0.05, 1]], dtype=np.float32)
    assert evaluate.knn_accuracy(train, labels, query, np.array([0, 1]), k=2) == 1.0


def test_knn_k_larger_than_train_set_is_capped():
    train = np.eye(3, dtype=np.float32)
    labels = np.array([0, 1, 2])
    assert evaluate.knn_accuracy(train, labels, train, labels, k=50, temperature=0.01) == 1.0


def test_features_are_identical_across_calls(encoder, digits):
    first = evaluate.extract_features(encoder, digits.x_val, batch_size=64)
    second = evaluate.extract_features(encoder, digits.x_val, batch_size=64)
    rebatched = evaluate.extract_features(encoder, digits.x_val, batch_size=100)
    assert first.shape == (len(digits.x_val), 64)
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    # Another batch size only changes float rounding: inference mode uses no batch statistics.
    np.testing.assert_allclose(first, rebatched, rtol=1e-3, atol=1e-5)


def test_probe_changes_no_encoder_weight(encoder, digits):
    before = [w.copy() for w in encoder.get_weights()]  # includes BN moving statistics
    train = evaluate.extract_features(encoder, digits.x_train)
    test = evaluate.extract_features(encoder, digits.x_test)
    accuracy = evaluate.linear_probe_accuracy(train, digits.y_train, test, digits.y_test)
    after = encoder.get_weights()
    assert 0.0 <= accuracy <= 1.0
    assert len(before) == len(after)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)


def test_probe_on_pixels_beats_chance_by_far(digits):
    # Raw digit pixels are close to linearly separable: a sanity bound for the probe.
    flatten = lambda x: x.reshape(len(x), -1).astype(np.float32)
    accuracy = evaluate.linear_probe_accuracy(
        flatten(digits.x_train), digits.y_train, flatten(digits.x_test), digits.y_test
    )
    assert accuracy > 0.9
