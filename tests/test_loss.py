"""NT-Xent against a slow NumPy loop written from equation (1) of Chen et al. 2020."""

import math

import numpy as np
import pytest
import tensorflow as tf

from trainables.loss import nt_xent_loss


def reference_nt_xent(z_a, z_b, temperature):
    """Loop over the 2N anchors exactly as the paper states the loss, in float64."""
    z = np.concatenate([z_a, z_b]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z_a)
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        denominator = sum(
            math.exp(z[i] @ z[k] / temperature) for k in range(2 * n) if k != i
        )
        total += -math.log(math.exp(z[i] @ z[positive] / temperature) / denominator)
    return total / (2 * n)


def reference_gradient(z_a, z_b, temperature, eps=1e-5):
    """Central finite differences of the reference loss, in float64."""
    params = np.concatenate([z_a, z_b]).astype(np.float64)
    n = len(z_a)
    grad = np.zeros_like(params)
    for index in np.ndindex(params.shape):
        up, down = params.copy(), params.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (
            reference_nt_xent(up[:n], up[n:], temperature)
            - reference_nt_xent(down[:n], down[n:], temperature)
        ) / (2 * eps)
    return grad[:n], grad[n:]


@pytest.mark.parametrize("n,d", [(1, 4), (2, 3), (5, 8), (7, 16), (16, 32)])
@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.5, 1.0, 2.0])
def test_matches_reference_loop(n, d, temperature):
    rng = np.random.default_rng(n * 100 + d)
    z_a = rng.normal(size=(n, d)).astype(np.float32)
    z_b = rng.normal(size=(n, d)).astype(np.float32)
    expected = reference_nt_xent(z_a, z_b, temperature)
    actual = float(nt_xent_loss(z_a, z_b, temperature))
    assert actual == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_collapsed_embeddings_give_log_2n_minus_1():
    # All 2N projections equal: every similarity is 1, so each term is log(2N - 1).
    n = 6
    z = np.ones((n, 4), dtype=np.float32)
    assert float(nt_xent_loss(z, z, 0.5)) == pytest.approx(math.log(2 * n - 1), rel=1e-5)


def test_single_pair_has_zero_loss():
    # With N = 1 each anchor's only other view is its positive.
    z_a = np.array([[1.0, 0.0]], dtype=np.float32)
    z_b = np.array([[0.0, 1.0]], dtype=np.float32)
    assert float(nt_xent_loss(z_a, z_b, 0.1)) == pytest.approx(0.0, abs=1e-6)


def test_identical_orthogonal_views_closed_form():
    # Views identical, examples mutually orthogonal (one-hot): for every anchor the
    # positive has similarity 1 and the 2N - 2 negatives 0, so the loss is
    # -log(e^(1/t) / (e^(1/t) + 2N - 2)).
    n, t = 4, 0.5
    z = np.eye(n, dtype=np.float32)
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * n - 2))
    assert float(nt_xent_loss(z, z, t)) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.5944, abs=1e-4)


def test_symmetric_in_the_two_views():
    rng = np.random.default_rng(3)
    z_a = rng.normal(size=(9, 5)).astype(np.float32)
    z_b = rng.normal(size=(9, 5)).astype(np.float32)
    assert float(nt_xent_loss(z_a, z_b, 0.2)) == pytest.approx(
        float(nt_xent_loss(z_b, z_a, 0.2)), rel=1e-6
    )


def test_invariant_to_projection_scale():
    rng = np.random.default_rng(4)
    z_a = rng.normal(size=(5, 6)).astype(np.float32)
    z_b = rng.normal(size=(5, 6)).astype(np.float32)
    assert float(nt_xent_loss(3.0 * z_a, 0.25 * z_b, 0.5)) == pytest.approx(
        float(nt_xent_loss(z_a, z_b, 0.5)), rel=1e-5
    )


def test_finite_at_temperature_001_with_gradients():
    rng = np.random.default_rng(5)
    z_a = tf.Variable(rng.normal(size=(33, 16)).astype(np.float32))
    z_b = tf.Variable(rng.normal(size=(33, 16)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = nt_xent_loss(z_a, z_b, 0.01)
    grads = tape.gradient(loss, [z_a, z_b])
    assert np.isfinite(float(loss))
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    expected = reference_nt_xent(z_a.numpy(), z_b.numpy(), 0.01)
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_float16_inputs_give_float32_loss():
    rng = np.random.default_rng(6)
    z_a = rng.normal(size=(8, 16)).astype(np.float16)
    z_b = rng.normal(size=(8, 16)).astype(np.float16)
    loss = nt_xent_loss(tf.constant(z_a), tf.constant(z_b), 0.1)
    assert loss.dtype == tf.float32
    expected = reference_nt_xent(z_a.astype(np.float32), z_b.astype(np.float32), 0.1)
    assert float(loss) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("n,temperature", [(1, 0.5), (3, 0.1), (4, 1.0)])
def test_gradients_match_reference(n, temperature):
    rng = np.random.default_rng(7 + n)
    z_a = rng.normal(size=(n, 3))
    z_b = rng.normal(size=(n, 3))
    var_a = tf.Variable(z_a.astype(np.float32))
    var_b = tf.Variable(z_b.astype(np.float32))
    with tf.GradientTape() as tape:
        loss = nt_xent_loss(var_a, var_b, temperature)
    grad_a, grad_b = tape.gradient(loss, [var_a, var_b])
    expected_a, expected_b = reference_gradient(z_a, z_b, temperature)
    np.testing.assert_allclose(grad_a.numpy(), expected_a, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(grad_b.numpy(), expected_b, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("temperature", [0.0, -0.5])
def test_rejects_non_positive_temperature(temperature):
    z = np.ones((2, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=f"temperature must be > 0, received {temperature}"):
        nt_xent_loss(z, z, temperature)
