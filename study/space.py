"""The search space: study-file domains turned into Ray Tune domains.

A swept key in a study file's `space` mapping takes one of these forms:

    depth: {grid: [18, 34]}              every value, in every sample
    batch_size: {choice: [64, 128]}      one value drawn per sample
    learning_rate: {loguniform: [0.1, 2.0]}
    temperature: {uniform: [0.1, 1.0]}
    width: 0.5                           a plain value: fixed

A study has num_samples x (product of grid sizes) trials; `grid_points`
sets the order in which they start.
"""

import itertools

from ray import tune

DOMAIN_KINDS = ("grid", "choice", "uniform", "loguniform")

# Multiply-adds per image relative to each other, from the ResNet paper's
# Table 1 (He et al. 2016); a width multiplier w scales them by about w**2.
DEPTH_COST = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
COST_KEYS = ("depth", "width")


class SpaceError(ValueError):
    """Invalid search-space domain; the message names the key and the accepted forms."""


def validate_domain(key, spec):
    """Raise `SpaceError` (a ValueError) when `spec` is not a known domain form."""
    if not isinstance(spec, dict):
        return
    if len(spec) != 1 or next(iter(spec)) not in DOMAIN_KINDS:
        raise SpaceError(
            f"invalid space.{key} {spec!r}; use a plain value or one of "
            + ", ".join(f"{{{kind}: [...]}}" for kind in DOMAIN_KINDS)
        )
    kind, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values:
        raise SpaceError(f"invalid space.{key}.{kind} {values!r}; give a non-empty list")
    if kind == "grid" and len({repr(value) for value in values}) < len(values):
        raise SpaceError(f"invalid space.{key}.grid {values!r}; a repeated value runs the same trials twice, "
                         "so list each value once and raise num_samples for repeats")
    if kind in ("uniform", "loguniform"):
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if len(values) != 2 or not numeric or not values[0] < values[1]:
            raise SpaceError(f"invalid space.{key}.{kind} {values!r}; give two numbers [low, high] with low < high")
        if kind == "loguniform" and values[0] <= 0:
            raise SpaceError(f"invalid space.{key}.loguniform {values!r}; the low bound must be > 0")


def domain_values(spec):
    """Values a domain can produce that must each pass validation (range bounds for ranges)."""
    if isinstance(spec, dict):
        return list(next(iter(spec.values())))
    return [spec]


def to_tune_domain(spec):
    """Turn one validated domain spec into a Ray Tune domain or a fixed value."""
    if not isinstance(spec, dict):
        return spec
    kind, values = next(iter(spec.items()))
    if kind == "grid":
        return tune.grid_search(values)
    if kind == "choice":
        return tune.choice(values)
    if kind == "uniform":
        return tune.uniform(*values)
    return tune.loguniform(*values)


def build_param_space(config):
    """Return the Tune param_space: fixed trial settings with the swept keys replaced by domains."""
    space = config.trial_settings()
    for key, spec in config.space.items():
        space[key] = to_tune_domain(spec)
    return space


def grid_points(config):
    """Return every grid combination once per sample, in rounds, or [] without grids.

    Each round takes one value of every grid key other than depth and width,
    and runs all grid depths and widths with them, costliest first. A study
    then ends on its cheapest trials rather than with one long trial running
    alone, and every stretch of trials mixes the depths, so ASHA's first
    rungs compare trials from across the space. Each point fixes the grid
    keys of one trial; Ray Tune draws the other swept keys for it.
    """
    grids = {key: spec["grid"] for key, spec in config.space.items() if isinstance(spec, dict) and "grid" in spec}
    if not grids:
        return []
    fixed = config.trial_settings()
    rounds = _combinations({key: values for key, values in grids.items() if key not in COST_KEYS})
    by_cost = _combinations({key: values for key, values in grids.items() if key in COST_KEYS})
    by_cost.sort(key=lambda point: -_relative_cost({**fixed, **point}))
    return [{**shared, **costly} for shared in rounds for costly in by_cost] * config.num_samples


def _combinations(grids):
    return [dict(zip(grids, values)) for values in itertools.product(*grids.values())]


def _relative_cost(settings):
    return DEPTH_COST[settings["depth"]] * settings["width"] ** 2
