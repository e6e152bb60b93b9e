"""Floating-point operations of one forward pass, counted from a Keras model's layers.

Counts 2 operations per multiply-add of every Conv2D and Dense layer, nested
models included. Batch norm, activations, pooling and additions are left out:
they cost a few operations per activation, against hundreds per convolution
output, so about 1 % of a ResNet's total (an estimate).
A training step costs about 3 times the forward pass (the backward pass
computes gradients for both activations and weights), the usual estimate for
model FLOP utilization.
"""

import keras

TRAIN_STEP_FACTOR = 3


def forward_flops(model):
    """Return the forward-pass FLOPs of one example through `model` (a built Keras model)."""
    total = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            out_height, out_width, out_channels = layer.output.shape[1:]
            kernel_height, kernel_width, in_channels_per_group, _ = layer.kernel.shape
            total += 2 * out_height * out_width * out_channels * kernel_height * kernel_width * in_channels_per_group
        elif isinstance(layer, keras.layers.Dense):
            in_features, out_features = layer.kernel.shape
            total += 2 * in_features * out_features
    return int(total)


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer
