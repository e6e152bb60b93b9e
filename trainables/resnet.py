"""ResNet encoders for SimCLR, built from one depth table.

The architecture follows He et al. 2016, "Deep Residual Learning for Image
Recognition", with the stride of each downsampling bottleneck block on its
3x3 convolution (the "v1.5" placement that torchvision uses). The encoder ends
at global average pooling, so it returns the representation h of Chen et al.
2020, "A Simple Framework for Contrastive Learning of Visual Representations",
on which the projection head and the linear probe are fitted.
"""

import math
import numbers
from dataclasses import dataclass

import keras
from keras import layers

# Batch-normalization settings shared by every BatchNormalization layer.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

# Output channels of stages 1-4 at width 1.0, before the bottleneck expansion.
STAGE_BASE_CHANNELS = (64, 128, 256, 512)
BOTTLENECK_EXPANSION = 4

# Images at most this many pixels a side get the 3x3 stride-1 stem by default.
SMALL_STEM_MAX_IMAGE_SIZE = 32

# He-normal suits convolutions followed by ReLU.
KERNEL_INITIALIZER = "he_normal"


@dataclass(frozen=True)
class ResNetSpec:
    """Block type and number of residual blocks in each of the four stages."""

    block: str  # "basic" or "bottleneck"
    blocks_per_stage: tuple[int, int, int, int]

    @property
    def expansion(self) -> int:
        return BOTTLENECK_EXPANSION if self.block == "bottleneck" else 1


RESNET_SPECS = {
    18: ResNetSpec("basic", (2, 2, 2, 2)),
    34: ResNetSpec("basic", (3, 4, 6, 3)),
    50: ResNetSpec("bottleneck", (3, 4, 6, 3)),
    101: ResNetSpec("bottleneck", (3, 4, 23, 3)),
    152: ResNetSpec("bottleneck", (3, 8, 36, 3)),
}

DEPTHS = tuple(sorted(RESNET_SPECS))


def default_small_stem(image_size: int) -> bool:
    """Return True when images of `image_size` pixels a side need the small stem.

    The ImageNet stem divides the resolution by 4 before the first stage, which
    leaves too little spatial detail for CIFAR-sized images.
    """
    return image_size <= SMALL_STEM_MAX_IMAGE_SIZE


def feature_dim(depth: int, width: float = 1.0) -> int:
    """Return the length of the encoder's output vector.

    This is 512 * width for depths 18 and 34 and 2048 * width for 50 and
    deeper, with 512 * width rounded the same way as the channel counts.
    """
    spec = _validated_spec(depth)
    _validate_width(width)
    return _scaled_channels(STAGE_BASE_CHANNELS[-1], width) * spec.expansion


def build_encoder(
    depth: int,
    width: float = 1.0,
    small_stem: bool = True,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    name: str = "encoder",
) -> keras.Model:
    """Build a ResNet encoder as a functional Keras model.

    Args:
        depth: one of `DEPTHS`.
        width: channel multiplier. Stage i has round(base_i * width) channels,
            at least 1, with base = 64, 128, 256, 512. The stem uses the stage-1
            count.
        small_stem: True for a 3x3 stride-1 convolution without max-pooling
            (images of 32 px or less, see `default_small_stem`). False for the
            ImageNet stem: 7x7 stride-2 convolution and 3x3 stride-2 max-pool.
        input_shape: (height, width, channels) of the input images.
        name: model name.

    Returns:
        A model that maps float32 images of shape (B, *input_shape) with values
        in [0, 1] to float32 features of shape (B, feature_dim(depth, width)),
        the global average of the last stage. The output stays float32 under a
        mixed-precision policy.

    Raises:
        ValueError: on a depth outside `DEPTHS` or a width that is not a
            positive finite number.
    """
    spec = _validated_spec(depth)
    _validate_width(width)

    inputs = keras.Input(shape=tuple(input_shape), dtype="float32", name="images")

    stem_channels = _scaled_channels(STAGE_BASE_CHANNELS[0], width)
    if small_stem:
        x = _conv_bn(inputs, stem_channels, 3, 1, relu=True, prefix="stem")
    else:
        x = _conv_bn(inputs, stem_channels, 7, 2, relu=True, prefix="stem")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)

    block_fn = _bottleneck_block if spec.block == "bottleneck" else _basic_block
    for stage_index, num_blocks in enumerate(spec.blocks_per_stage):
        channels = _scaled_channels(STAGE_BASE_CHANNELS[stage_index], width)
        for block_index in range(num_blocks):
            # Stages 2-4 halve the resolution in their first block.
            downsample = stage_index > 0 and block_index == 0
            x = block_fn(
                x,
                channels,
                strides=2 if downsample else 1,
                prefix=f"stage{stage_index + 1}_block{block_index + 1}",
            )

    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    # Under mixed_float16 the layers compute in float16, so cast the features back.
    outputs = layers.Activation("linear", dtype="float32", name="features")(x)
    return keras.Model(inputs, outputs, name=name)


def _validated_spec(depth) -> ResNetSpec:
    if isinstance(depth, bool) or depth not in RESNET_SPECS:
        raise ValueError(
            f"Invalid ResNet depth: {depth!r}. Use one of {list(DEPTHS)}."
        )
    return RESNET_SPECS[depth]


def _validate_width(width) -> None:
    is_number = isinstance(width, numbers.Real) and not isinstance(width, bool)
    if not is_number or not math.isfinite(width) or width <= 0:
        raise ValueError(
            f"Invalid width multiplier: {width!r}. Use a positive number such "
            "as 1.0 (standard ResNet), 0.5 or 2.0."
        )


def _scaled_channels(base: int, width: float) -> int:
    # Round half up, so 32.5 gives 33 where Python's round() gives 32.
    return max(1, math.floor(base * width + 0.5))


def _conv_bn(x, filters, kernel_size, strides, relu, prefix):
    """Apply a bias-free convolution, batch normalization and optionally ReLU."""
    if strides > 1:
        # Pad both sides equally, as torchvision's ResNet does, because
        # TensorFlow's "same" pads strided convolutions at the bottom and right.
        pad_total = kernel_size - 1
        pad_begin = pad_total // 2
        padding = ((pad_begin, pad_total - pad_begin),) * 2
        if pad_total > 0:
            x = layers.ZeroPadding2D(padding, name=f"{prefix}_pad")(x)
        conv_padding = "valid"
    else:
        conv_padding = "same"

    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=conv_padding,
        use_bias=False,
        kernel_initializer=KERNEL_INITIALIZER,
        name=f"{prefix}_conv",
    )(x)
    x = layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{prefix}_bn"
    )(x)
    if relu:
        x = layers.ReLU(name=f"{prefix}_relu")(x)
    return x


def _shortcut(x, out_channels, strides, prefix):
    """Return x, or its 1x1 projection when the block changes shape."""
    if strides == 1 and x.shape[-1] == out_channels:
        return x
    return _conv_bn(x, out_channels, 1, strides, relu=False, prefix=f"{prefix}_proj")


def _basic_block(x, channels, strides, prefix):
    """Apply two 3x3 convolutions. The output has `channels` channels."""
    shortcut = _shortcut(x, channels, strides, prefix)

    y = _conv_bn(x, channels, 3, strides, relu=True, prefix=f"{prefix}_1")
    y = _conv_bn(y, channels, 3, 1, relu=False, prefix=f"{prefix}_2")

    y = layers.Add(name=f"{prefix}_add")([shortcut, y])
    return layers.ReLU(name=f"{prefix}_out")(y)


def _bottleneck_block(x, channels, strides, prefix):
    """Apply 1x1 reduce, 3x3 (strided) and 1x1 expand convolutions.

    The output has 4 * `channels` channels.
    """
    out_channels = channels * BOTTLENECK_EXPANSION
    shortcut = _shortcut(x, out_channels, strides, prefix)

    y = _conv_bn(x, channels, 1, 1, relu=True, prefix=f"{prefix}_1")
    y = _conv_bn(y, channels, 3, strides, relu=True, prefix=f"{prefix}_2")
    y = _conv_bn(y, out_channels, 1, 1, relu=False, prefix=f"{prefix}_3")

    y = layers.Add(name=f"{prefix}_add")([shortcut, y])
    return layers.ReLU(name=f"{prefix}_out")(y)
