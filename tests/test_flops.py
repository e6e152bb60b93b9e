"""FLOP counts of Keras models: a closed-form case and the ResNet paper's figures."""

import subprocess
import sys

import keras
import pytest

from benchmarks.flops import forward_flops
from trainables.resnet import build_encoder


def test_conv_and_dense_closed_form():
    inputs = keras.Input((10, 10, 8))
    x = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    x = keras.layers.Conv2D(4, 1, strides=2)(x)  # 5 x 5 output
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3)(x)
    model = keras.Model(inputs, outputs)
    expected = 2 * (10 * 10 * 16 * 3 * 3 * 8 + 5 * 5 * 4 * 1 * 1 * 16 + 4 * 3)
    assert forward_flops(model) == expected


def test_nested_model_counts_once():
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5)])
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)))
    assert forward_flops(model) == 2 * (6 * 5 + 5 * 2)


# Multiply-adds per 224 px image without the classifier, from Table 1 of He et
# al. 2016. This encoder is "ResNet v1.5": a bottleneck block strides in its
# 3 x 3 convolution, not in the first 1 x 1 as in the paper, so bottleneck
# depths count 2 to 8 % more.
PAPER_GIGA_MULTIPLY_ADDS = {18: (1.8, 0.02), 34: (3.6, 0.02), 50: (3.8, 0.08), 101: (7.6, 0.04), 152: (11.3, 0.03)}


@pytest.mark.parametrize("depth", sorted(PAPER_GIGA_MULTIPLY_ADDS))
def test_resnet_matches_paper(depth):
    paper, tolerance = PAPER_GIGA_MULTIPLY_ADDS[depth]
    encoder = build_encoder(depth, width=1.0, small_stem=False, input_shape=(224, 224, 3))
    multiply_adds = forward_flops(encoder) / 2 / 1e9
    assert multiply_adds == pytest.approx(paper, rel=tolerance)


@pytest.mark.slow
def test_gpu_benchmark_smoke_runs_without_gpu():
    completed = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--smoke"],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith("step ")]
    assert [line.split(":")[0] for line in lines] == ["step memory", "step live"]
    for line in lines:
        assert float(line.split(": ")[1].split()[0]) > 0
