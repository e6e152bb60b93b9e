"""Fixtures shared by the test modules."""

import keras
import pytest


@pytest.fixture
def mixed_precision():
    """Run a test under the mixed_float16 policy, then restore the previous policy."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)
