"""Optimizers and learning-rate schedules for SimCLR pretraining.

LARS follows You et al. 2017, "Large Batch Training of Convolutional Networks",
in the form used by the SimCLR code base (google-research/simclr,
`tf2/lars_optimizer.py`, classic momentum): weight decay is added to the
gradient before the trust ratio, and momentum accumulates the scaled step.
Learning-rate scaling and the warmup-plus-cosine schedule follow the same code
base's `learning_rate_scaling` flag and `WarmUpAndCosineDecay`.
"""

import math
import numbers

import keras
from keras import ops

OPTIMIZERS = ("lars", "sgd", "adam")
LR_SCALINGS = ("linear", "sqrt", "none")

# Batch size at which "linear" scaling leaves the base learning rate unchanged.
LINEAR_SCALING_REFERENCE_BATCH = 256


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def scale_learning_rate(base_lr: float, batch_size: int, scaling: str) -> float:
    """Return the learning rate for `batch_size` examples per step.

    "linear" gives base_lr * batch_size / 256 (e.g. 0.3 * 4096 / 256 = 4.8),
    "sqrt" gives base_lr * sqrt(batch_size) (e.g. 0.075 * sqrt(4096) = 4.8),
    and "none" returns base_lr unchanged.

    Raises:
        ValueError: on an unknown scaling, a batch size that is not a positive
            integer, or a base learning rate that is not a positive number.
    """
    if not _is_real(base_lr) or not math.isfinite(base_lr) or base_lr <= 0:
        raise ValueError(
            f"Invalid base learning rate: {base_lr!r}. Use a positive number."
        )
    if not _is_int(batch_size) or batch_size <= 0:
        raise ValueError(
            f"Invalid batch size: {batch_size!r}. Use a positive integer."
        )

    if scaling == "linear":
        return float(base_lr) * batch_size / LINEAR_SCALING_REFERENCE_BATCH
    if scaling == "sqrt":
        return float(base_lr) * math.sqrt(batch_size)
    if scaling == "none":
        return float(base_lr)
    raise ValueError(
        f"Invalid learning-rate scaling: {scaling!r}. Use one of {list(LR_SCALINGS)}."
    )


@keras.saving.register_keras_serializable(package="simclr_study")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak_learning_rate`, then cosine decay to 0.

    lr(step) = peak * step / warmup_steps                    for step < warmup_steps
    lr(step) = peak * (1 + cos(pi * progress)) / 2           afterwards, where
    progress = (step - warmup_steps) / (total_steps - warmup_steps), clipped to [0, 1].

    Steps count optimizer updates from 0, so the first update runs at lr 0 when
    warmup_steps > 0, and every step from total_steps on gets 0.
    """

    def __init__(self, peak_learning_rate: float, warmup_steps: int, total_steps: int):
        if not _is_real(peak_learning_rate) or peak_learning_rate < 0:
            raise ValueError(
                f"Invalid peak_learning_rate: {peak_learning_rate!r}. "
                "Use a number >= 0."
            )
        if not _is_int(total_steps) or total_steps <= 0:
            raise ValueError(
                f"Invalid total_steps: {total_steps!r}. Use a positive integer."
            )
        if not _is_int(warmup_steps) or not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"Invalid warmup_steps: {warmup_steps!r}. Use an integer in "
                f"[0, total_steps) = [0, {total_steps})."
            )
        self.peak_learning_rate = float(peak_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = ops.cast(self.peak_learning_rate, "float32")
        warmup_steps = ops.cast(self.warmup_steps, "float32")
        decay_steps = ops.cast(self.total_steps - self.warmup_steps, "float32")

        # max(warmup_steps, 1) keeps the unused branch finite when warmup_steps == 0.
        warmup_lr = peak * step / ops.maximum(warmup_steps, 1.0)

        progress = ops.clip((step - warmup_steps) / decay_steps, 0.0, 1.0)
        decay_lr = peak * 0.5 * (1.0 + ops.cos(math.pi * progress))

        return ops.where(step < warmup_steps, warmup_lr, decay_lr)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }


@keras.saving.register_keras_serializable(package="simclr_study")
class LARS(keras.optimizers.Optimizer):
    """Layer-wise Adaptive Rate Scaling with momentum (You et al. 2017).

    For each variable w with gradient g that is not excluded:

        g' = g + weight_decay * w
        trust_ratio = eeta * ||w|| / ||g'||    (1.0 when ||w|| or ||g'|| is 0)
        v = momentum * v + learning_rate * trust_ratio * g'
        w = w - v

    Excluded variables get neither weight decay nor the trust ratio:
    v = momentum * v + learning_rate * g, then w = w - v. By default every
    variable of rank <= `exclude_rank_at_most` is excluded, which covers
    batch-normalization gamma and beta and all biases. Passing `exclude_names`
    switches to name matching: a variable is excluded when any of the strings
    occurs in its path (e.g. "encoder/stage1_block1_1_bn/gamma").

    Args:
        learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`.
        momentum: momentum coefficient in [0, 1].
        weight_decay: L2 coefficient added to the gradient, >= 0.
        eeta: trust coefficient, > 0.
        exclude_rank_at_most: variables of at most this rank are excluded
            when `exclude_names` is None.
        exclude_names: optional list of substrings of variable paths to exclude.
        **kwargs: other `keras.optimizers.Optimizer` arguments (name, clipnorm,
            ...), except `weight_decay`, which this class applies itself.

    Gradients are treated as dense tensors.
    """

    def __init__(
        self,
        learning_rate=0.1,
        momentum: float = 0.9,
        weight_decay: float = 1e-6,
        eeta: float = 0.001,
        exclude_rank_at_most: int = 1,
        exclude_names: list[str] | None = None,
        **kwargs,
    ):
        if not _is_real(momentum) or not 0 <= momentum <= 1:
            raise ValueError(f"Invalid momentum: {momentum!r}. Use a number in [0, 1].")
        if not _is_real(weight_decay) or weight_decay < 0:
            raise ValueError(
                f"Invalid weight_decay: {weight_decay!r}. Use a number >= 0."
            )
        if not _is_real(eeta) or eeta <= 0:
            raise ValueError(f"Invalid eeta: {eeta!r}. Use a positive number.")
        if not _is_int(exclude_rank_at_most):
            raise ValueError(
                f"Invalid exclude_rank_at_most: {exclude_rank_at_most!r}. "
                "Use an integer, e.g. 1 to exclude biases and batch-norm parameters."
            )
        if isinstance(exclude_names, str):
            raise ValueError(
                f"Invalid exclude_names: {exclude_names!r}. Use a list of "
                "strings, e.g. ['bn', 'bias']."
            )

        # The base class would apply its own decoupled decay for a non-None
        # weight_decay, so LARS keeps its coefficient under another attribute.
        super().__init__(learning_rate=learning_rate, weight_decay=None, **kwargs)
        self.momentum = float(momentum)
        self.lars_weight_decay = float(weight_decay)
        self.eeta = float(eeta)
        self.exclude_rank_at_most = int(exclude_rank_at_most)
        self.exclude_names = None if exclude_names is None else list(exclude_names)

    def is_excluded(self, variable) -> bool:
        """Return True when `variable` gets neither weight decay nor the trust ratio."""
        if self.exclude_names is not None:
            path = getattr(variable, "path", variable.name)
            return any(pattern in path for pattern in self.exclude_names)
        return len(variable.shape) <= self.exclude_rank_at_most

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum")
        # Decided here, where the Keras variables and their paths are at hand:
        # with the TensorFlow backend, update_step receives the tf.Variable.
        self._excluded = [self.is_excluded(v) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        velocity = self.momentums[index]
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        learning_rate = ops.cast(learning_rate, dtype)
        momentum = ops.cast(self.momentum, dtype)

        if self._excluded[index]:
            scaled_lr = learning_rate
        else:
            gradient = gradient + ops.cast(self.lars_weight_decay, dtype) * variable

            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(gradient)))
            both_positive = ops.logical_and(w_norm > 0, g_norm > 0)
            # The denominator is replaced by 1 where g_norm is 0, so the unused
            # branch of `where` stays finite.
            safe_g_norm = ops.where(g_norm > 0, g_norm, ops.ones_like(g_norm))
            trust_ratio = ops.where(
                both_positive,
                ops.cast(self.eeta, dtype) * w_norm / safe_g_norm,
                ops.ones_like(w_norm),
            )
            scaled_lr = learning_rate * trust_ratio

        self.assign(velocity, momentum * velocity + scaled_lr * gradient)
        self.assign_sub(variable, velocity)

    def get_config(self):
        config = super().get_config()
        config.pop("weight_decay", None)
        config.update(
            {
                "momentum": self.momentum,
                "weight_decay": self.lars_weight_decay,
                "eeta": self.eeta,
                "exclude_rank_at_most": self.exclude_rank_at_most,
                "exclude_names": self.exclude_names,
            }
        )
        return config


class _LowRankDecayExclusion:
    """Mixin that exempts variables of rank <= `exclude_rank_at_most` from weight decay.

    Keras applies decoupled weight decay (w -= learning_rate * weight_decay * w,
    before the update step) to every variable not excluded through
    `exclude_from_weight_decay`. This mixin excludes the low-rank variables
    (biases, batch-norm gamma and beta) when the optimizer is built, which
    replaces any exclusion configured before the build.
    """

    def __init__(self, *args, exclude_rank_at_most: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.exclude_rank_at_most = int(exclude_rank_at_most)

    def build(self, variables):
        if self.built:
            return
        low_rank = [v for v in variables if len(v.shape) <= self.exclude_rank_at_most]
        self.exclude_from_weight_decay(var_list=low_rank)
        super().build(variables)

    def get_config(self):
        config = super().get_config()
        config["exclude_rank_at_most"] = self.exclude_rank_at_most
        return config


@keras.saving.register_keras_serializable(package="simclr_study")
class SGDLowRankNoDecay(_LowRankDecayExclusion, keras.optimizers.SGD):
    """`keras.optimizers.SGD` without weight decay on variables of rank <= 1 (default)."""


@keras.saving.register_keras_serializable(package="simclr_study")
class AdamLowRankNoDecay(_LowRankDecayExclusion, keras.optimizers.Adam):
    """`keras.optimizers.Adam` without weight decay on variables of rank <= 1 (default)."""


def build_optimizer(
    name: str,
    schedule,
    momentum: float = 0.9,
    weight_decay: float = 1e-6,
) -> keras.optimizers.Optimizer:
    """Build the optimizer `name` with learning rate `schedule`.

    Args:
        name: one of `OPTIMIZERS`. "lars" is `LARS`. "sgd" is Keras SGD with
            momentum. "adam" is Keras Adam, which ignores `momentum`.
        schedule: float learning rate or a `LearningRateSchedule`.
        momentum: momentum coefficient for "lars" and "sgd".
        weight_decay: for "lars", the L2 term added to the gradient. For "sgd"
            and "adam", Keras's decoupled decay, scaled by the learning rate.
            0 disables it. Variables of rank <= 1 never get weight decay.

    Raises:
        ValueError: on an unknown name or a negative weight decay.
    """
    if not _is_real(weight_decay) or weight_decay < 0:
        raise ValueError(
            f"Invalid weight_decay: {weight_decay!r}. Use a number >= 0."
        )
    if _is_real(schedule):
        # Keras accepts only a Python float, not an int or a NumPy scalar.
        schedule = float(schedule)

    if name == "lars":
        return LARS(
            learning_rate=schedule,
            momentum=float(momentum),
            weight_decay=float(weight_decay),
        )

    keras_weight_decay = float(weight_decay) if weight_decay > 0 else None
    if name == "sgd":
        return SGDLowRankNoDecay(
            learning_rate=schedule,
            momentum=float(momentum),
            weight_decay=keras_weight_decay,
        )
    if name == "adam":
        return AdamLowRankNoDecay(
            learning_rate=schedule,
            weight_decay=keras_weight_decay,
        )
    raise ValueError(
        f"Invalid optimizer name: {name!r}. Use one of {list(OPTIMIZERS)}."
    )
