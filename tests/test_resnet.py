import keras
import numpy as np
import pytest

from trainables.heads import build_projection_head
from trainables.resnet import (
    DEPTHS,
    build_encoder,
    default_small_stem,
    feature_dim,
)

# torchvision's resnet18 ... resnet152 parameter counts minus the 1000-way
# classifier (feature_dim * 1000 weights + 1000 biases). Batch-norm gamma and
# beta are trainable in both frameworks, and the moving statistics are not.
TORCHVISION_TRAINABLE_PARAMS = {
    18: 11_689_512 - 513_000,
    34: 21_797_672 - 513_000,
    50: 25_557_032 - 2_049_000,
    101: 44_549_160 - 2_049_000,
    152: 60_192_808 - 2_049_000,
}


def count_params(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def test_depths_constant():
    assert DEPTHS == (18, 34, 50, 101, 152)


@pytest.mark.parametrize(
    "depth, expected",
    [
        (18, 11_176_512),
        (34, 21_284_672),
        (50, 23_508_032),
        (101, 42_500_160),
        (152, 58_143_808),
    ],
)
def test_imagenet_param_count(depth, expected):
    assert expected == TORCHVISION_TRAINABLE_PARAMS[depth]
    encoder = build_encoder(depth, small_stem=False, input_shape=(32, 32, 3))
    assert count_params(encoder.trainable_weights) == expected


def test_small_stem_param_count_resnet18():
    # The 3x3 stem has 3*3*3*64 weights in place of the 7x7 stem's 7*7*3*64.
    encoder = build_encoder(18, small_stem=True)
    expected = 11_176_512 - 7 * 7 * 3 * 64 + 3 * 3 * 3 * 64
    assert count_params(encoder.trainable_weights) == expected


@pytest.mark.parametrize(
    "depth, width, expected",
    [
        (18, 1.0, 512),
        (34, 1.0, 512),
        (50, 1.0, 2048),
        (101, 1.0, 2048),
        (152, 1.0, 2048),
        (18, 0.5, 256),
        (50, 2.0, 4096),
        (50, 0.125, 256),
        (18, 0.3, 154),  # 512 * 0.3 = 153.6 rounds to 154
        (50, 0.3, 616),  # 154 channels times the expansion of 4
        (18, 0.001, 1),  # never fewer than 1 channel
    ],
)
def test_feature_dim_table(depth, width, expected):
    assert feature_dim(depth, width) == expected


@pytest.mark.parametrize("depth", [18, 50])
@pytest.mark.parametrize("small_stem", [True, False])
def test_output_shape_and_values(depth, small_stem):
    encoder = build_encoder(
        depth, width=0.125, small_stem=small_stem, input_shape=(32, 32, 3)
    )
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")

    features = encoder(images, training=False)

    assert tuple(features.shape) == (2, feature_dim(depth, 0.125))
    assert encoder.output_shape == (None, feature_dim(depth, 0.125))
    assert np.all(np.isfinite(np.asarray(features)))


@pytest.mark.parametrize(
    "small_stem, stage4_size",
    [
        (True, 4),  # 32 -> 32 (stem) -> 32, 16, 8, 4
        (False, 1),  # 32 -> 16 (conv) -> 8 (pool) -> 8, 4, 2, 1
    ],
)
def test_stem_resolution(small_stem, stage4_size):
    encoder = build_encoder(18, width=0.125, small_stem=small_stem)
    last_block = encoder.get_layer("stage4_block2_out")
    assert last_block.output.shape[1:3] == (stage4_size, stage4_size)


def test_stem_layers():
    small = build_encoder(18, width=0.125, small_stem=True)
    imagenet = build_encoder(18, width=0.125, small_stem=False)

    assert small.get_layer("stem_conv").kernel_size == (3, 3)
    assert small.get_layer("stem_conv").strides == (1, 1)
    assert "stem_pool" not in [layer.name for layer in small.layers]
    assert imagenet.get_layer("stem_conv").kernel_size == (7, 7)
    assert imagenet.get_layer("stem_conv").strides == (2, 2)
    assert imagenet.get_layer("stem_pool").strides == (2, 2)


def test_bottleneck_stride_on_3x3():
    encoder = build_encoder(50, width=0.125)
    assert encoder.get_layer("stage2_block1_1_conv").strides == (1, 1)
    assert encoder.get_layer("stage2_block1_2_conv").strides == (2, 2)
    assert encoder.get_layer("stage2_block1_proj_conv").strides == (2, 2)
    assert encoder.get_layer("stage2_block2_2_conv").strides == (1, 1)


def test_conv_and_bn_settings():
    encoder = build_encoder(18, width=0.125)
    convs = [l for l in encoder.layers if isinstance(l, keras.layers.Conv2D)]
    norms = [l for l in encoder.layers if isinstance(l, keras.layers.BatchNormalization)]

    assert convs
    assert all(not conv.use_bias for conv in convs)
    assert len(norms) == len(convs)
    assert all(bn.momentum == 0.9 for bn in norms)
    assert all(bn.epsilon == 1e-5 for bn in norms)


def test_projection_shortcuts_only_on_shape_change():
    basic = build_encoder(18, width=0.125)
    bottleneck = build_encoder(50, width=0.125)
    basic_proj = sorted(l.name for l in basic.layers if l.name.endswith("proj_conv"))
    bottleneck_proj = sorted(
        l.name for l in bottleneck.layers if l.name.endswith("proj_conv")
    )

    # Stage 1 of a basic-block ResNet keeps 64 channels and the resolution.
    assert basic_proj == [f"stage{s}_block1_proj_conv" for s in (2, 3, 4)]
    # A bottleneck stage 1 expands 64 to 256 channels, so it needs one too.
    assert bottleneck_proj == [f"stage{s}_block1_proj_conv" for s in (1, 2, 3, 4)]


def test_width_scales_channels():
    encoder = build_encoder(50, width=0.25)

    assert encoder.get_layer("stem_conv").filters == 16
    assert encoder.get_layer("stage1_block1_1_conv").filters == 16
    assert encoder.get_layer("stage1_block1_3_conv").filters == 64
    assert encoder.get_layer("stage4_block1_2_conv").filters == 128
    assert encoder.get_layer("stage4_block3_3_conv").filters == 512


def test_width_scales_params_quadratically():
    # Every convolution's weights scale with width^2 and batch-norm with width,
    # so doubling the width roughly quadruples the count.
    narrow = count_params(build_encoder(18, width=0.25).trainable_weights)
    wide = count_params(build_encoder(18, width=0.5).trainable_weights)
    assert 3.5 < wide / narrow < 4.0


@pytest.mark.parametrize("depth", [0, 20, 200, "50", None, True])
def test_invalid_depth(depth):
    with pytest.raises(ValueError, match="Invalid ResNet depth") as error:
        build_encoder(depth)
    assert repr(depth) in str(error.value)
    assert "[18, 34, 50, 101, 152]" in str(error.value)


@pytest.mark.parametrize("depth", [7, 1000])
def test_feature_dim_invalid_depth(depth):
    with pytest.raises(ValueError, match=str(depth)):
        feature_dim(depth, 1.0)


@pytest.mark.parametrize("width", [0, 0.0, -1.0, float("nan"), float("inf"), "1"])
def test_invalid_width(width):
    with pytest.raises(ValueError, match="Invalid width multiplier") as error:
        build_encoder(18, width=width)
    assert repr(width) in str(error.value)

    with pytest.raises(ValueError, match="Invalid width multiplier"):
        feature_dim(18, width)


def test_default_small_stem():
    assert default_small_stem(8)
    assert default_small_stem(32)
    assert not default_small_stem(33)
    assert not default_small_stem(224)


def test_encoder_float32_output_mixed_precision(mixed_precision):
    encoder = build_encoder(18, width=0.125, input_shape=(16, 16, 3))
    images = np.zeros((2, 16, 16, 3), dtype="float32")

    features = encoder(images, training=False)

    assert encoder.get_layer("stage1_block1_1_conv").compute_dtype == "float16"
    assert features.dtype == "float32"


def test_head_float32_output_mixed_precision(mixed_precision):
    head = build_projection_head(64, output_dim=16)

    projections = head(np.zeros((2, 64), dtype="float32"), training=False)

    assert head.get_layer("hidden").compute_dtype == "float16"
    assert projections.dtype == "float32"


def test_mixed_precision_policy_restored():
    # Runs after the mixed-precision tests in file order.
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.parametrize(
    "input_dim, hidden_dim, output_dim, hidden_expected",
    [
        (512, None, 128, 512),
        (2048, 512, 64, 512),
        (8, 3, 2, 3),
    ],
)
def test_projection_head_shapes_and_params(
    input_dim, hidden_dim, output_dim, hidden_expected
):
    head = build_projection_head(input_dim, hidden_dim, output_dim)
    features = np.random.default_rng(0).normal(size=(4, input_dim)).astype("float32")

    projections = head(features, training=False)

    assert tuple(projections.shape) == (4, output_dim)
    # Dense without bias, batch-norm gamma and beta, Dense with bias.
    trainable = (
        input_dim * hidden_expected
        + 2 * hidden_expected
        + hidden_expected * output_dim
        + output_dim
    )
    assert count_params(head.trainable_weights) == trainable
    # Batch-norm moving mean and variance.
    assert count_params(head.non_trainable_weights) == 2 * hidden_expected


def test_projection_head_resnet50_params():
    # 2048*2048 + 2*2048 + 2048*128 + 128, written out.
    head = build_projection_head(2048)
    assert count_params(head.trainable_weights) == 4_460_672


def test_projection_head_hidden_has_no_bias():
    head = build_projection_head(16, 8, 4)
    assert not head.get_layer("hidden").use_bias
    assert head.get_layer("output").use_bias


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"input_dim": 0}, "input_dim"),
        ({"input_dim": 8, "hidden_dim": -2}, "hidden_dim"),
        ({"input_dim": 8, "output_dim": 1.5}, "output_dim"),
    ],
)
def test_projection_head_invalid_dims(kwargs, name):
    with pytest.raises(ValueError, match=f"Invalid {name}"):
        build_projection_head(**kwargs)
