"""One SimCLR pretrain-plus-probe cycle as a Ray Tune function trainable.

Each epoch: train on two augmented views per image, score the frozen encoder
with the kNN monitor on the validation split, then report the metrics together
with a checkpoint. After the last epoch, fit a linear probe on frozen encoder
features of the train split and score it on the test split, beside the same
probe on a randomly initialized encoder of the same architecture.
"""

import math
import os
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from ray import tune

from trainables import evaluate
from trainables.augment import AugmentConfig
from trainables.checkpoint import load_checkpoint, save_checkpoint
from trainables.data import load_dataset
from trainables.heads import build_projection_head
from trainables.loss import nt_xent_loss
from trainables.optim import WarmupCosine, build_optimizer, scale_learning_rate
from trainables.pipeline import pretrain_dataset
from trainables.resnet import build_encoder, default_small_stem, feature_dim
from trainables.runtime import configure_runtime
from trainables.settings import TrialSettings


def train_simclr(config, data=None):
    """Pretrain, monitor and probe one configuration; report to Ray Tune each epoch.

    Args:
        config: Tune config dict with the keys of `TrialSettings`.
        data: a `trainables.data.Splits`; Ray passes it through its object
            store so that each node holds one copy. Loaded here when None.
    """
    settings = TrialSettings.from_config(config)
    has_gpu = configure_runtime(_trial_cpus())
    mixed = has_gpu if settings.mixed_precision is None else settings.mixed_precision
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    keras.utils.set_random_seed(settings.seed)
    splits = data if data is not None else load_dataset(settings.dataset, seed=settings.seed)

    run = _Pretraining(settings, splits, mixed)
    state = run.restore(tune.get_checkpoint())
    if state["epochs_completed"] >= settings.max_epochs:
        # The trial had finished, but the driver stopped before Tune recorded
        # that, so the resumed study runs it again from its final checkpoint.
        tune.report(run.final_report(state))
        return
    for epoch in range(state["epochs_completed"], settings.max_epochs):
        metrics = run.train_epoch(epoch, state)
        if metrics is None:
            tune.report(run.diverged_report(state))
            return
        if epoch + 1 == settings.max_epochs:
            metrics.update(run.probe())
            state["final_report"] = metrics
        _report_with_checkpoint(run, metrics, state)


class _Pretraining:
    """Models, optimizer and compiled train step of one trial."""

    def __init__(self, settings, splits, mixed):
        self.settings = settings
        self.splits = splits
        image_size = splits.x_train.shape[1]
        self.small_stem = (
            default_small_stem(image_size) if settings.small_stem is None else settings.small_stem
        )
        self.input_shape = (image_size, image_size, 3)
        self.encoder = self._build_encoder()
        self.head = build_projection_head(
            feature_dim(settings.depth, settings.width), output_dim=settings.projection_dim
        )

        num_train = len(splits.x_train)
        self.steps_per_epoch = max(1, num_train // settings.batch_size)
        peak = scale_learning_rate(settings.learning_rate, settings.batch_size, settings.lr_scaling)
        total_steps = settings.max_epochs * self.steps_per_epoch
        # A study shortened with --max-epochs may leave less room than the
        # preset's warmup; the warmup then ends one step before training does.
        warmup_steps = min(int(settings.warmup_epochs * self.steps_per_epoch), total_steps - 1)
        self.schedule = WarmupCosine(
            peak_learning_rate=peak, warmup_steps=warmup_steps, total_steps=total_steps
        )
        optimizer = build_optimizer(
            settings.optimizer, self.schedule, settings.momentum, settings.weight_decay
        )
        if mixed:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        self.optimizer = optimizer
        self.variables = self.encoder.trainable_variables + self.head.trainable_variables
        self.optimizer.build(self.variables)
        self.augment = AugmentConfig(
            crop_area=(settings.crop_min_area, 1.0),
            color_strength=settings.color_strength,
            blur=settings.blur,
        )
        self.train_step = self._compile_train_step()

    def _build_encoder(self):
        return build_encoder(
            self.settings.depth,
            width=self.settings.width,
            small_stem=self.small_stem,
            input_shape=self.input_shape,
        )

    def _compile_train_step(self):
        encoder, head, optimizer = self.encoder, self.head, self.optimizer
        variables, temperature = self.variables, self.settings.temperature

        @tf.function(jit_compile=self.settings.xla)
        def train_step(view_a, view_b):
            # One forward pass over both views, so batch norm sees all 2N images.
            views = tf.concat([view_a, view_b], axis=0)  # (2N, H, W, 3)
            with tf.GradientTape() as tape:
                projections = head(encoder(views, training=True), training=True)  # (2N, d)
                z_a, z_b = tf.split(projections, 2, axis=0)  # (N, d) each
                loss = nt_xent_loss(z_a, z_b, temperature)
                scaled_loss = optimizer.scale_loss(loss)
            gradients = tape.gradient(scaled_loss, variables)
            optimizer.apply(gradients, variables)
            return loss

        return train_step

    def restore(self, checkpoint):
        """Load the latest checkpoint when Tune restarts this trial; return progress state."""
        if checkpoint is None:
            return {"epochs_completed": 0, "train_seconds": 0.0, "views": 0, "knn_accuracy": 0.0}
        with checkpoint.as_directory() as folder:
            return load_checkpoint(folder, self.encoder, self.head, self.optimizer)

    def train_epoch(self, epoch, state):
        """Train one epoch and run the kNN monitor; return metrics, or None if the loss diverged."""
        settings = self.settings
        dataset = pretrain_dataset(
            self.splits.x_train, settings.batch_size, epoch, settings.seed, self.augment
        )
        start = time.perf_counter()
        losses, views = [], 0
        for view_a, view_b in dataset:
            losses.append(self.train_step(view_a, view_b))
            views += 2 * int(view_a.shape[0])
        loss = float(np.mean([value.numpy() for value in losses]))
        train_seconds = time.perf_counter() - start
        if not math.isfinite(loss):
            state["error"] = f"NT-Xent loss became {loss} in epoch {epoch + 1}"
            return None

        knn = self.knn_accuracy()
        if knn is None:
            state["error"] = f"encoder features became non-finite in epoch {epoch + 1}"
            return None
        state.update(
            epochs_completed=epoch + 1,
            train_seconds=state["train_seconds"] + train_seconds,
            views=state["views"] + views,
            knn_accuracy=knn,
        )
        return {
            "epoch": epoch + 1,
            "loss": loss,
            "knn_accuracy": knn,
            "learning_rate": float(self.schedule(self.optimizer.iterations)),
            "epoch_seconds": time.perf_counter() - start,
            "images_per_second": views / train_seconds,
            "train_seconds": state["train_seconds"],
            "mean_images_per_second": state["views"] / state["train_seconds"],
            "diverged": False,
        }

    def knn_accuracy(self):
        """kNN accuracy on the validation split, or None when a feature is NaN or infinite."""
        splits, settings = self.splits, self.settings
        batch = settings.eval_batch_size
        train = evaluate.extract_features(self.encoder, splits.x_train, batch)
        val = evaluate.extract_features(self.encoder, splits.x_val, batch)
        if not (np.isfinite(train).all() and np.isfinite(val).all()):
            return None
        return evaluate.knn_accuracy(
            train, splits.y_train, val, splits.y_val, settings.knn_k, settings.knn_temperature
        )

    def probe(self):
        """Linear-probe test accuracy of the trained encoder and of a random one."""
        keras.utils.set_random_seed(self.settings.seed)
        baseline_encoder = self._build_encoder()
        return {
            "probe_accuracy": self._probe_accuracy(self.encoder),
            "baseline_probe_accuracy": self._probe_accuracy(baseline_encoder),
        }

    def _probe_accuracy(self, encoder):
        splits, settings = self.splits, self.settings
        batch = settings.eval_batch_size
        train = evaluate.extract_features(encoder, splits.x_train, batch)
        test = evaluate.extract_features(encoder, splits.x_test, batch)
        return evaluate.linear_probe_accuracy(
            train, splits.y_train, test, splits.y_test, settings.probe_c, settings.seed
        )

    def diverged_report(self, state):
        """Final report of a diverged trial: finite values only, so the scheduler is not misled.

        It repeats the epoch and kNN accuracy of the last finite epoch (0 and 0.0
        when the first epoch diverged), because ASHA needs its metric in every report.
        """
        return {
            "epoch": state["epochs_completed"],
            "knn_accuracy": state["knn_accuracy"],
            "diverged": True,
            "error": state["error"],
        }

    def final_report(self, state):
        """Return the last report of a finished trial, from the state of its final checkpoint."""
        if "final_report" in state:
            return state["final_report"]
        # Checkpoints written before the final report was kept in the state.
        return {
            "epoch": state["epochs_completed"],
            "knn_accuracy": state["knn_accuracy"],
            "diverged": False,
            **self.probe(),
        }


def _report_with_checkpoint(run, metrics, state):
    with tempfile.TemporaryDirectory(prefix="simclr-checkpoint-") as folder:
        save_checkpoint(folder, run.encoder, run.head, run.optimizer, state)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def _trial_cpus():
    """CPUs Ray gave this trial, or all of the machine's when run outside Tune."""
    try:
        resources = tune.get_context().get_trial_resources()
        return max(1, int(resources.required_resources.get("CPU", 1)))
    except (AttributeError, RuntimeError):
        return os.cpu_count() or 1
