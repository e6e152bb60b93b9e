"""Per-epoch trial checkpoints: model weights, optimizer state and progress.

A checkpoint folder contains
    encoder.weights.h5, projection.weights.h5   Keras weight files
    optimizer.npz                               optimizer variables, in order
    state.json                                  epochs done, seconds and views so far,
                                                the last kNN accuracy and, once the
                                                trial has finished, its final report
The random state needs no file: every random draw of epoch e is seeded by
(trial seed, e), so resuming at epoch e replays exactly what an unbroken run
would have drawn. tests/test_reliability.py checks that a resumed epoch
reproduces the loss of an unbroken run.
"""

import json
import os

import numpy as np

STATE_FILE = "state.json"
OPTIMIZER_FILE = "optimizer.npz"


def save_checkpoint(folder, encoder, head, optimizer, state):
    """Write the model, optimizer and progress `state` (a JSON-able dict) to `folder`."""
    encoder.save_weights(os.path.join(folder, "encoder.weights.h5"))
    head.save_weights(os.path.join(folder, "projection.weights.h5"))
    values = {f"v{i:05d}": v.numpy() for i, v in enumerate(optimizer.variables)}
    np.savez(os.path.join(folder, OPTIMIZER_FILE), **values)
    with open(os.path.join(folder, STATE_FILE), "w") as handle:
        json.dump(state, handle)


def load_checkpoint(folder, encoder, head, optimizer):
    """Restore what `save_checkpoint` wrote into built models; return the state dict.

    The optimizer must already be built for the same variables, so that its
    variable list has the saved order and shapes.
    """
    encoder.load_weights(os.path.join(folder, "encoder.weights.h5"))
    head.load_weights(os.path.join(folder, "projection.weights.h5"))
    with np.load(os.path.join(folder, OPTIMIZER_FILE)) as saved:
        values = [saved[name] for name in sorted(saved.files)]
    if len(values) != len(optimizer.variables):
        raise ValueError(
            f"checkpoint in {folder} has {len(values)} optimizer variables but the "
            f"optimizer has {len(optimizer.variables)}; it was written by another configuration"
        )
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    with open(os.path.join(folder, STATE_FILE)) as handle:
        return json.load(handle)
