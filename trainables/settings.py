"""Hyperparameters of one trial, as the trainable receives them from Ray Tune."""

import dataclasses
from dataclasses import dataclass
from typing import Optional

# Accepted values, kept here without TensorFlow so that a study is validated
# before TensorFlow loads; tests check they match the builders' tables.
DEPTHS = (18, 34, 50, 101, 152)
OPTIMIZERS = ("lars", "sgd", "adam")
LR_SCALINGS = ("linear", "sqrt", "none")


@dataclass(frozen=True)
class TrialSettings:
    """Everything one SimCLR pretrain-plus-probe cycle needs besides its data.

    The study config fills these from a preset or study file; the search space
    replaces the swept ones (depth, batch size, temperature, learning rate) per
    trial.
    """

    dataset: str = "digits"
    depth: int = 18
    width: float = 1.0
    small_stem: Optional[bool] = None  # None: small stem for images of 32 px or less
    projection_dim: int = 128
    batch_size: int = 256
    temperature: float = 0.5
    learning_rate: float = 1.0  # before batch-size scaling
    lr_scaling: str = "sqrt"  # "linear" (lr * B / 256), "sqrt" (lr * sqrt(B)) or "none"
    optimizer: str = "lars"
    momentum: float = 0.9
    weight_decay: float = 1e-6
    warmup_epochs: float = 10.0
    max_epochs: int = 100
    crop_min_area: float = 0.08
    color_strength: float = 0.5
    blur: bool = False
    knn_k: int = 200
    knn_temperature: float = 0.1
    probe_c: float = 1.0  # inverse L2 strength of the logistic-regression probe
    seed: int = 0
    mixed_precision: Optional[bool] = None  # None: on when the trial has a GPU
    xla: bool = False
    eval_batch_size: int = 512


    @classmethod
    def from_config(cls, config):
        """Build settings from a Tune config dict, rejecting unknown keys."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"unknown trial settings {unknown}; accepted keys are {sorted(known)}"
            )
        return cls(**config)

    def as_dict(self):
        return dataclasses.asdict(self)
