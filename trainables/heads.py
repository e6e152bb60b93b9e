"""Projection head g(.) of SimCLR (Chen et al. 2020).

The NT-Xent loss is computed on z = g(h), where h is the encoder output. The
head is dropped after pretraining and the linear probe is fitted on h.
"""

import numbers

import keras
from keras import layers

from trainables.resnet import BN_EPSILON, BN_MOMENTUM


def build_projection_head(
    input_dim: int,
    hidden_dim: int | None = None,
    output_dim: int = 128,
    name: str = "projection",
) -> keras.Model:
    """Build the 2-layer MLP head: Dense(no bias) -> BatchNorm -> ReLU -> Dense.

    Args:
        input_dim: length of the encoder features h.
        hidden_dim: width of the hidden layer, `input_dim` when None.
        output_dim: length of the projection z (SimCLR uses 128).
        name: model name.

    Returns:
        A functional model mapping (B, input_dim) to float32 (B, output_dim).
        The output stays float32 under a mixed-precision policy.

    Raises:
        ValueError: when a dimension is not a positive integer.
    """
    if hidden_dim is None:
        hidden_dim = input_dim
    for arg_name, value in (
        ("input_dim", input_dim),
        ("hidden_dim", hidden_dim),
        ("output_dim", output_dim),
    ):
        if not _is_positive_int(value):
            raise ValueError(
                f"Invalid {arg_name}: {value!r}. Use a positive integer."
            )

    inputs = keras.Input(shape=(input_dim,), name="features")
    # The batch normalization that follows makes a bias redundant.
    x = layers.Dense(hidden_dim, use_bias=False, name="hidden")(inputs)
    x = layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="hidden_bn"
    )(x)
    x = layers.ReLU(name="hidden_relu")(x)
    x = layers.Dense(output_dim, name="output")(x)
    outputs = layers.Activation("linear", dtype="float32", name="output_float32")(x)
    return keras.Model(inputs, outputs, name=name)


def _is_positive_int(value) -> bool:
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and value > 0
    )
