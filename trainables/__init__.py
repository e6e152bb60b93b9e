"""SimCLR pretraining, evaluation and the Ray Tune trainable."""

import os

# TensorFlow's C++ info and warning lines (CPU features, missing CUDA drivers,
# cost-model notes) would otherwise flood every trial's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
