import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainables.optim import (
    LARS,
    OPTIMIZERS,
    WarmupCosine,
    build_optimizer,
    scale_learning_rate,
)


def lars_reference(w, g, v, lr, momentum, weight_decay, eeta, excluded=False):
    """Apply one LARS step written straight from the update rule and return (w, v)."""
    w = np.asarray(w, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    if excluded:
        trust_ratio = 1.0
    else:
        g = g + weight_decay * w
        w_norm = np.linalg.norm(w)
        g_norm = np.linalg.norm(g)
        trust_ratio = eeta * w_norm / g_norm if w_norm > 0 and g_norm > 0 else 1.0
    v = momentum * v + lr * trust_ratio * g
    return w - v, v


def make_variable(values, name):
    return keras.Variable(np.asarray(values, dtype="float32"), name=name)


def apply(optimizer, grads, variables):
    optimizer.apply([tf.constant(g, dtype="float32") for g in grads], variables)


# --- LARS -----------------------------------------------------------------


def test_lars_single_step_hand_computed():
    w0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    g0 = np.array([[0.1, 0.2], [0.3, 0.4]])
    kernel = make_variable(w0, "kernel")
    optimizer = LARS(0.5, momentum=0.9, weight_decay=0.1, eeta=0.01)

    apply(optimizer, [g0], [kernel])

    # g' = g + 0.1 w = [[0.2, 0.4], [0.6, 0.8]], ||w|| = sqrt(30), ||g'|| = sqrt(1.2),
    # so trust_ratio = 0.01 * sqrt(30 / 1.2) = 0.05 and v = 0.5 * 0.05 * g'.
    g_decayed = g0 + 0.1 * w0
    trust_ratio = 0.01 * np.linalg.norm(w0) / np.linalg.norm(g_decayed)
    expected = w0 - 0.5 * trust_ratio * g_decayed
    np.testing.assert_allclose(kernel.numpy(), expected, rtol=1e-6)
    assert trust_ratio == pytest.approx(0.05)
    assert kernel.numpy()[0, 0] == pytest.approx(0.9950, abs=1e-4)
    assert kernel.numpy()[1, 1] == pytest.approx(3.9800, abs=1e-4)


def test_lars_random_step_matches_reference():
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 3, 4, 5))
    g0 = rng.normal(size=(3, 3, 4, 5)) * 0.01
    kernel = make_variable(w0, "kernel")
    optimizer = LARS(1.3, momentum=0.9, weight_decay=1e-4, eeta=0.001)

    apply(optimizer, [g0], [kernel])

    expected, _ = lars_reference(w0, g0, 0.0, 1.3, 0.9, 1e-4, 0.001)
    np.testing.assert_allclose(kernel.numpy(), expected, rtol=1e-5)
    assert not np.allclose(kernel.numpy(), w0)


def test_lars_excluded_variable_plain_momentum():
    bias = make_variable([1.0, -1.0], "bias")
    optimizer = LARS(0.5, momentum=0.9, weight_decay=0.1, eeta=0.01)

    apply(optimizer, [[0.5, 0.5]], [bias])

    # v = lr * g, no weight decay and no trust ratio.
    expected, _ = lars_reference([1.0, -1.0], [0.5, 0.5], 0.0, 0.5, 0.9, 0.1, 0.01, excluded=True)
    np.testing.assert_allclose(bias.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(bias.numpy(), [0.75, -1.25], rtol=1e-6)


def test_lars_excluded_second_step_momentum():
    bias = make_variable([1.0, -1.0], "bias")
    optimizer = LARS(0.5, momentum=0.9, weight_decay=0.1, eeta=0.01)

    apply(optimizer, [[0.5, 0.5]], [bias])
    apply(optimizer, [[0.5, 0.5]], [bias])

    # v1 = 0.25, v2 = 0.9 * 0.25 + 0.25 = 0.475, w = 1 - 0.25 - 0.475.
    np.testing.assert_allclose(bias.numpy(), [0.275, -1.725], rtol=1e-6)


def test_lars_rank_exclusion_default():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()]
    )
    optimizer = LARS(0.1)

    excluded = {w.path.split("/")[-1]: optimizer.is_excluded(w) for w in model.trainable_weights}

    assert excluded == {"kernel": False, "bias": True, "gamma": True, "beta": True}


def test_lars_exclude_rank_at_most_zero():
    bias = make_variable([1.0, -1.0], "bias")
    optimizer = LARS(0.5, momentum=0.9, weight_decay=0.1, eeta=0.01, exclude_rank_at_most=0)

    apply(optimizer, [[0.5, 0.5]], [bias])

    expected, _ = lars_reference([1.0, -1.0], [0.5, 0.5], 0.0, 0.5, 0.9, 0.1, 0.01)
    np.testing.assert_allclose(bias.numpy(), expected, rtol=1e-6)


def test_lars_exclude_names_overrides_rank():
    dense = keras.layers.Dense(2, name="head")
    dense.build((None, 2))
    dense.kernel.assign(np.array([[1.0, 2.0], [3.0, 4.0]], dtype="float32"))
    dense.bias.assign(np.array([1.0, -1.0], dtype="float32"))
    optimizer = LARS(0.5, momentum=0.9, weight_decay=0.1, eeta=0.01, exclude_names=["head/kernel"])

    kernel_grad = np.array([[0.1, 0.2], [0.3, 0.4]])
    bias_grad = np.array([0.5, 0.5])
    apply(optimizer, [kernel_grad, bias_grad], [dense.kernel, dense.bias])

    # The named kernel is excluded, and the bias, not named, gets decay and trust ratio.
    kernel_expected, _ = lars_reference(
        [[1.0, 2.0], [3.0, 4.0]], kernel_grad, 0.0, 0.5, 0.9, 0.1, 0.01, excluded=True
    )
    bias_expected, _ = lars_reference([1.0, -1.0], bias_grad, 0.0, 0.5, 0.9, 0.1, 0.01)
    np.testing.assert_allclose(dense.kernel.numpy(), kernel_expected, rtol=1e-6)
    np.testing.assert_allclose(dense.bias.numpy(), bias_expected, rtol=1e-6)


def test_lars_zero_weight_norm():
    kernel = make_variable(np.zeros((2, 2)), "kernel")
    optimizer = LARS(0.5, momentum=0.9, weight_decay=0.1, eeta=0.01)
    grad = np.array([[0.1, -0.2], [0.3, 0.4]])

    apply(optimizer, [grad], [kernel])

    # ||w|| = 0 gives trust_ratio 1 and no decay term (w = 0), so w = -lr * g.
    np.testing.assert_allclose(kernel.numpy(), -0.5 * grad, rtol=1e-6)


def test_lars_zero_gradient_norm():
    w0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    kernel = make_variable(w0, "kernel")
    optimizer = LARS(0.5, momentum=0.9, weight_decay=0.0, eeta=0.01)

    apply(optimizer, [np.zeros((2, 2))], [kernel])

    assert np.all(np.isfinite(kernel.numpy()))
    np.testing.assert_allclose(kernel.numpy(), w0)


def test_lars_gradient_cancelled_by_decay():
    # g = -weight_decay * w makes g' = 0, so ||g'|| = 0 and the step is 0.
    w0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    kernel = make_variable(w0, "kernel")
    optimizer = LARS(0.5, momentum=0.9, weight_decay=0.5, eeta=0.01)

    apply(optimizer, [-0.5 * w0], [kernel])

    assert np.all(np.isfinite(kernel.numpy()))
    np.testing.assert_allclose(kernel.numpy(), w0, atol=1e-7)


def test_lars_zero_weight_and_gradient():
    kernel = make_variable(np.zeros((2, 2)), "kernel")
    optimizer = LARS(0.5)

    apply(optimizer, [np.zeros((2, 2))], [kernel])

    np.testing.assert_array_equal(kernel.numpy(), np.zeros((2, 2)))


def test_lars_momentum_two_steps():
    w0 = np.array([[1.0, -2.0, 0.5], [3.0, 4.0, -1.5]])
    g1 = np.array([[0.3, 0.1, -0.2], [0.05, -0.4, 0.2]])
    g2 = np.array([[-0.1, 0.2, 0.3], [0.25, 0.1, -0.05]])
    kernel = make_variable(w0, "kernel")
    optimizer = LARS(2.0, momentum=0.9, weight_decay=0.01, eeta=0.02)

    apply(optimizer, [g1], [kernel])
    apply(optimizer, [g2], [kernel])

    w1, v1 = lars_reference(w0, g1, 0.0, 2.0, 0.9, 0.01, 0.02)
    w2, v2 = lars_reference(w1, g2, v1, 2.0, 0.9, 0.01, 0.02)
    np.testing.assert_allclose(kernel.numpy(), w2, rtol=1e-5)
    np.testing.assert_allclose(optimizer.momentums[0].numpy(), v2, rtol=1e-5)
    # Without momentum carried over, the second step would land elsewhere.
    w2_no_momentum, _ = lars_reference(w1, g2, 0.0, 2.0, 0.9, 0.01, 0.02)
    assert not np.allclose(w2, w2_no_momentum)


def test_lars_schedule_drives_learning_rate():
    bias = make_variable([1.0], "bias")
    # Step 0 of the warmup has learning rate 0, step 1 has 0.5 * 1 / 2.
    optimizer = LARS(WarmupCosine(0.5, warmup_steps=2, total_steps=10), momentum=0.0)

    apply(optimizer, [[1.0]], [bias])
    np.testing.assert_allclose(bias.numpy(), [1.0])

    apply(optimizer, [[1.0]], [bias])
    np.testing.assert_allclose(bias.numpy(), [0.75], rtol=1e-6)


def test_lars_config_round_trip():
    schedule = WarmupCosine(1.2, warmup_steps=5, total_steps=50)
    optimizer = LARS(schedule, momentum=0.8, weight_decay=1e-4, eeta=0.002, exclude_names=["bn"])

    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))

    assert isinstance(restored, LARS)
    assert restored.momentum == 0.8
    assert restored.lars_weight_decay == 1e-4
    assert restored.eeta == 0.002
    assert restored.exclude_names == ["bn"]
    assert restored.exclude_rank_at_most == 1
    assert restored.weight_decay is None
    assert isinstance(restored._learning_rate, WarmupCosine)
    assert restored._learning_rate.get_config() == schedule.get_config()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"momentum": 1.5}, "Invalid momentum"),
        ({"weight_decay": -1.0}, "Invalid weight_decay"),
        ({"eeta": 0.0}, "Invalid eeta"),
        ({"exclude_names": "bias"}, "Invalid exclude_names"),
    ],
)
def test_lars_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LARS(0.1, **kwargs)


def test_lars_in_loss_scale_optimizer(mixed_precision):
    dense = keras.layers.Dense(3, name="dense")
    x = tf.constant(np.random.default_rng(0).normal(size=(8, 4)), dtype="float32")
    dense.build((None, 4))
    w0 = dense.kernel.numpy()
    b0 = dense.bias.numpy()
    inner = LARS(0.5, momentum=0.9, weight_decay=1e-4, eeta=0.01)
    optimizer = keras.optimizers.LossScaleOptimizer(inner)

    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(tf.cast(dense(x), "float32")))
        scaled_loss = optimizer.scale_loss(loss)
    scaled_grads = tape.gradient(scaled_loss, [dense.kernel.value, dense.bias.value])
    optimizer.apply(scaled_grads, [dense.kernel, dense.bias])

    assert dense.kernel.dtype == "float32"
    scale = 2.0**15
    kernel_grad = scaled_grads[0].numpy() / scale
    bias_grad = scaled_grads[1].numpy() / scale
    kernel_expected, _ = lars_reference(w0, kernel_grad, 0.0, 0.5, 0.9, 1e-4, 0.01)
    bias_expected, _ = lars_reference(
        b0, bias_grad, 0.0, 0.5, 0.9, 1e-4, 0.01, excluded=True
    )
    np.testing.assert_allclose(dense.kernel.numpy(), kernel_expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dense.bias.numpy(), bias_expected, rtol=1e-5, atol=1e-7)
    assert float(optimizer.dynamic_scale.numpy()) == scale


def test_lars_fit_mixed_precision(mixed_precision):
    # compile() wraps the optimizer in a LossScaleOptimizer under mixed_float16,
    # and fit() runs the update and the schedule inside tf.function.
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    schedule = WarmupCosine(0.5, warmup_steps=1, total_steps=4)
    model.compile(optimizer=build_optimizer("lars", schedule), loss="mse")
    weights_before = [w.numpy() for w in model.trainable_weights]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")

    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)

    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.optimizer.inner_optimizer, LARS)
    assert np.isfinite(history.history["loss"][0])
    weights_after = [w.numpy() for w in model.trainable_weights]
    assert all(np.all(np.isfinite(w)) for w in weights_after)
    assert any(not np.allclose(a, b) for a, b in zip(weights_before, weights_after))


# --- learning-rate scaling and schedule -------------------------------------


@pytest.mark.parametrize(
    "base_lr, batch_size, scaling, expected",
    [
        (0.3, 256, "linear", 0.3),
        (0.3, 4096, "linear", 4.8),
        (0.3, 64, "linear", 0.075),
        (0.075, 4096, "sqrt", 4.8),
        (0.075, 256, "sqrt", 1.2),
        (0.1, 100, "sqrt", 1.0),
        (0.5, 4096, "none", 0.5),
    ],
)
def test_scale_learning_rate(base_lr, batch_size, scaling, expected):
    assert scale_learning_rate(base_lr, batch_size, scaling) == pytest.approx(expected)


def test_scale_learning_rate_invalid_scaling():
    with pytest.raises(ValueError, match="'cubic'") as error:
        scale_learning_rate(0.1, 256, "cubic")
    assert "['linear', 'sqrt', 'none']" in str(error.value)


@pytest.mark.parametrize("batch_size", [0, -8, 2.5])
def test_scale_learning_rate_invalid_batch(batch_size):
    with pytest.raises(ValueError, match="Invalid batch size"):
        scale_learning_rate(0.1, batch_size, "linear")


@pytest.mark.parametrize("base_lr", [0.0, -0.1, float("nan")])
def test_scale_learning_rate_invalid_base(base_lr):
    with pytest.raises(ValueError, match="Invalid base learning rate"):
        scale_learning_rate(base_lr, 256, "linear")


@pytest.mark.parametrize(
    "step, expected",
    [
        (0, 0.0),  # start of warmup
        (5, 1.0),  # halfway through warmup
        (10, 2.0),  # end of warmup: peak
        (35, 2.0 * 0.5 * (1 + math.cos(math.pi / 4))),  # a quarter into the decay
        (60, 1.0),  # halfway through the decay: peak / 2
        (110, 0.0),  # total_steps
        (500, 0.0),  # past total_steps
    ],
)
def test_warmup_cosine_points(step, expected):
    schedule = WarmupCosine(2.0, warmup_steps=10, total_steps=110)
    assert float(schedule(step)) == pytest.approx(expected, abs=1e-6)


def test_warmup_cosine_pinned_value():
    schedule = WarmupCosine(2.0, warmup_steps=10, total_steps=110)
    assert float(schedule(35)) == pytest.approx(1.7071, abs=1e-4)


def test_warmup_cosine_in_tf_function():
    schedule = WarmupCosine(2.0, warmup_steps=10, total_steps=110)
    learning_rate = tf.function(schedule.__call__)

    for step, expected in [(0, 0.0), (10, 2.0), (60, 1.0), (110, 0.0)]:
        value = learning_rate(tf.constant(step, dtype=tf.int64))
        assert value.dtype == tf.float32
        assert float(value) == pytest.approx(expected, abs=1e-6)


def test_warmup_cosine_without_warmup():
    schedule = WarmupCosine(1.0, warmup_steps=0, total_steps=100)
    assert float(schedule(0)) == pytest.approx(1.0)
    assert float(schedule(50)) == pytest.approx(0.5, abs=1e-6)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-6)


def test_warmup_cosine_config_round_trip():
    schedule = WarmupCosine(0.3, warmup_steps=4, total_steps=40)
    restored = WarmupCosine.from_config(schedule.get_config())
    assert restored.get_config() == {
        "peak_learning_rate": 0.3,
        "warmup_steps": 4,
        "total_steps": 40,
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"peak_learning_rate": -1.0, "warmup_steps": 1, "total_steps": 10}, "peak_learning_rate"),
        ({"peak_learning_rate": 1.0, "warmup_steps": 1, "total_steps": 0}, "total_steps"),
        ({"peak_learning_rate": 1.0, "warmup_steps": 10, "total_steps": 10}, "warmup_steps"),
        ({"peak_learning_rate": 1.0, "warmup_steps": -1, "total_steps": 10}, "warmup_steps"),
        ({"peak_learning_rate": 1.0, "warmup_steps": 1.5, "total_steps": 10}, "warmup_steps"),
    ],
)
def test_warmup_cosine_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=f"Invalid {message}"):
        WarmupCosine(**kwargs)


# --- build_optimizer ----------------------------------------------------------


def test_optimizers_constant():
    assert OPTIMIZERS == ("lars", "sgd", "adam")


def test_build_optimizer_names():
    lars = build_optimizer("lars", 0.1, momentum=0.8, weight_decay=1e-5)
    sgd = build_optimizer("sgd", 0.1, momentum=0.8, weight_decay=1e-5)
    adam = build_optimizer("adam", 1e-3, weight_decay=1e-5)

    assert isinstance(lars, LARS)
    assert lars.momentum == 0.8
    assert lars.lars_weight_decay == 1e-5
    assert isinstance(sgd, keras.optimizers.SGD)
    assert sgd.momentum == 0.8
    assert sgd.weight_decay == 1e-5
    assert isinstance(adam, keras.optimizers.Adam)
    assert adam.weight_decay == 1e-5


def test_build_optimizer_learning_rate_types():
    schedule = WarmupCosine(0.1, warmup_steps=1, total_steps=10)
    assert build_optimizer("sgd", schedule)._learning_rate is schedule
    assert float(build_optimizer("sgd", 1).learning_rate) == 1.0


def test_build_optimizer_unknown_name():
    with pytest.raises(ValueError, match="'rmsprop'") as error:
        build_optimizer("rmsprop", 0.1)
    assert "['lars', 'sgd', 'adam']" in str(error.value)


def test_build_optimizer_negative_weight_decay():
    with pytest.raises(ValueError, match="Invalid weight_decay"):
        build_optimizer("sgd", 0.1, weight_decay=-1e-4)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_weight_decay_skips_rank_one(name):
    kernel = make_variable(np.full((2, 2), 2.0), "kernel")
    bias = make_variable([2.0, 2.0], "bias")
    optimizer = build_optimizer(name, 0.1, weight_decay=0.5)

    # With zero gradients, SGD and Adam move only by the decoupled decay.
    apply(optimizer, [np.zeros((2, 2)), np.zeros(2)], [kernel, bias])

    # w -= lr * weight_decay * w for the kernel: 2 * (1 - 0.1 * 0.5) = 1.9.
    np.testing.assert_allclose(kernel.numpy(), np.full((2, 2), 1.9), rtol=1e-6)
    np.testing.assert_allclose(bias.numpy(), [2.0, 2.0])


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_zero_weight_decay_disabled(name):
    optimizer = build_optimizer(name, 0.1, weight_decay=0.0)
    assert optimizer.weight_decay is None


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_config_round_trip(name):
    optimizer = build_optimizer(name, 0.1)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is type(optimizer)
    assert restored.get_config() == optimizer.get_config()
