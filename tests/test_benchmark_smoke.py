"""The speed benchmark at its smallest size: every figure is printed with a finite positive value."""

import math
import re
import subprocess
import sys

import pytest

RATIO_LINE = re.compile(r"^ratio (\d) \(([^)]+)\): .* = (\S+)\s+goal (>=|<=) (\S+): (met|NOT met)$")
MEMORY_LINE = re.compile(r"^memory depth (\d+): peak RSS (\S+) MiB")
SMOKE_DEPTHS = {18, 50}


@pytest.fixture(scope="module")
def smoke_output():
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed", "--smoke"],
        capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout.splitlines()


def ratio_values(lines):
    """Map each ratio number to the values printed for it, one per configuration."""
    values = {}
    for line in lines:
        match = RATIO_LINE.match(line)
        if match:
            values.setdefault(int(match.group(1)), []).append(float(match.group(3)))
    return values


@pytest.mark.slow
def test_smoke_prints_every_ratio(smoke_output):
    values = ratio_values(smoke_output)
    assert sorted(values) == [1, 2, 3, 4], "\n".join(smoke_output)
    # Figures 1 and 2 are measured for the quick preset's encoder and a full-width ResNet-18.
    assert len(values[1]) == 2
    assert len(values[2]) == 2


@pytest.mark.slow
def test_smoke_ratios_are_finite_and_positive(smoke_output):
    for number, ratios in ratio_values(smoke_output).items():
        for ratio in ratios:
            assert math.isfinite(ratio), f"ratio {number}: {ratio}"
            assert ratio > 0, f"ratio {number}: {ratio}"


@pytest.mark.slow
def test_smoke_prints_memory_per_depth(smoke_output):
    peaks = {}
    for line in smoke_output:
        match = MEMORY_LINE.match(line)
        if match:
            peaks[int(match.group(1))] = float(match.group(2))
    assert set(peaks) == SMOKE_DEPTHS, "\n".join(smoke_output)
    for depth, peak in peaks.items():
        assert math.isfinite(peak), f"depth {depth}: {peak}"
        assert peak > 0, f"depth {depth}: {peak}"


@pytest.mark.slow
def test_smoke_names_the_machine(smoke_output):
    header = smoke_output[0]
    assert header.startswith("simclr-study speed benchmark (smoke sizes) on ")
    assert "TensorFlow" in header
    assert "Ray" in header
