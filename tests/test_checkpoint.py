"""Checkpoints: every variable comes back exactly, and a checkpoint of another model is rejected."""

import keras
import numpy as np
import pytest

from trainables.checkpoint import load_checkpoint, save_checkpoint
from trainables.heads import build_projection_head
from trainables.optim import build_optimizer
from trainables.resnet import build_encoder, feature_dim


def _models(depth, seed):
    keras.utils.set_random_seed(seed)
    encoder = build_encoder(depth, width=0.125, small_stem=True, input_shape=(8, 8, 3))
    head = build_projection_head(feature_dim(depth, 0.125), output_dim=16)
    optimizer = build_optimizer("lars", 0.1, 0.9, 1e-6)
    variables = encoder.trainable_variables + head.trainable_variables
    optimizer.build(variables)
    return encoder, head, optimizer


def _values(variables):
    return [np.array(variable.numpy()) for variable in variables]


def test_round_trip_restores_every_variable(tmp_path):
    encoder, head, optimizer = _models(18, seed=1)
    # Batch-norm statistics and optimizer slots start at constants, so move them.
    rng = np.random.default_rng(0)
    for variable in encoder.weights + optimizer.variables:
        variable.assign(rng.normal(size=variable.shape).astype(variable.dtype))
    state = {"epochs_completed": 3, "knn_accuracy": 0.5}
    save_checkpoint(str(tmp_path), encoder, head, optimizer, state)

    restored = _models(18, seed=2)
    assert not np.array_equal(_values(restored[0].weights)[0], _values(encoder.weights)[0])
    assert load_checkpoint(str(tmp_path), *restored) == state
    for saved, loaded in [(encoder.weights, restored[0].weights), (head.weights, restored[1].weights),
                          (optimizer.variables, restored[2].variables)]:
        for expected, actual in zip(_values(saved), _values(loaded)):
            np.testing.assert_array_equal(actual, expected)


def test_other_depth_is_rejected(tmp_path):
    save_checkpoint(str(tmp_path), *_models(18, seed=1), {"epochs_completed": 1})
    with pytest.raises(ValueError, match=r"encoder\.npz has \d+ variables that do not match"):
        load_checkpoint(str(tmp_path), *_models(34, seed=1))


def test_keras_weight_files_still_load(tmp_path):
    encoder, head, optimizer = _models(18, seed=1)
    save_checkpoint(str(tmp_path), encoder, head, optimizer, {"epochs_completed": 2})
    # The layout of earlier versions: Keras weight files for the two models.
    encoder.save_weights(str(tmp_path / "encoder.weights.h5"))
    head.save_weights(str(tmp_path / "projection.weights.h5"))
    (tmp_path / "encoder.npz").unlink()
    (tmp_path / "projection.npz").unlink()

    restored = _models(18, seed=2)
    assert load_checkpoint(str(tmp_path), *restored) == {"epochs_completed": 2}
    for expected, actual in zip(_values(encoder.weights + head.weights),
                                _values(restored[0].weights + restored[1].weights)):
        np.testing.assert_array_equal(actual, expected)
